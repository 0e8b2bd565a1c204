"""An environment's members page: its admins and owners add members, change roles and
the allowlist, and remove members (the members API's rule, through the same service);
a viewer or deployer gets the styled 403 page, a non-member a 404."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from stacks.models import Environment, Membership

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _inline(html: str, field: str) -> str:
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', html)
    assert found, f"no inline error for {field}"
    return found.group(1)


@pytest.fixture
def local() -> Environment:
    return Environment.objects.get(name="local")


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("deployer", 403), ("outsider", 404)])
def test_who_may_not_manage_members_gets_the_styled_refusal(
    request: pytest.FixtureRequest, local: Environment, outsider: Any, role: str, status: int
) -> None:
    page = _client(request.getfixturevalue(role))
    url = f"/environments/{local.pk}/members/"
    refused = page.get(url)
    assert refused.status_code == status and 'class="navbar' in refused.content.decode()
    if status == 403:
        assert "Your role in this environment does not allow this (needs admin)" in refused.content.decode()
    assert page.post(url, {"username": "outsider", "role": "admin"}).status_code == status
    assert page.post(f"{url}{outsider.pk}/remove/").status_code == status
    assert not Membership.objects.filter(user=outsider).exists()
    listed = page.get("/environments/").content.decode()
    assert f'href="/environments/{local.pk}/members/"' not in listed


@pytest.mark.parametrize("role", ["admin", "env_admin"])
def test_admins_and_owners_add_change_and_remove_members(
    request: pytest.FixtureRequest, local: Environment, outsider: Any, deployer: Any, env_admin: Any, role: str
) -> None:
    page = _client(request.getfixturevalue(role))
    url = f"/environments/{local.pk}/members/"
    assert f'href="{url}"' in page.get("/environments/").content.decode()
    html = page.get(url).content.decode()
    assert 'data-member="deployer"' in html and 'data-member="envadmin"' in html

    added = page.post(url, {"username": "outsider", "role": "viewer"})
    assert added.status_code == 302 and added["Location"] == url
    assert "outsider is viewer of local." in page.get(url).content.decode()
    assert Membership.objects.get(user=outsider).role == "viewer"

    page.post(url, {"username": "deployer", "role": "deployer", "allowlisted": "on"})
    assert Membership.objects.get(user=deployer).allowlisted

    assert page.post(f"{url}{outsider.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(user=outsider).exists()
    assert page.post(f"{url}{outsider.pk}/remove/").status_code == 404
    assert page.get(f"{url}{outsider.pk}/remove/").status_code == 405  # a GET changes nothing


def test_a_refused_member_form_says_why_and_keeps_the_input(env_admin: Any, local: Environment) -> None:
    page = _client(env_admin)
    url = f"/environments/{local.pk}/members/"
    unknown = page.post(url, {"username": "nobody", "role": "deployer", "allowlisted": "on"})
    html = unknown.content.decode()
    assert unknown.status_code == 400 and _inline(html, "username") == "no user named &#x27;nobody&#x27;"
    assert 'value="nobody"' in html and '<option value="deployer" selected>' in html
    assert 'id="allowlisted" name="allowlisted" checked' in html
    bad_role = page.post(url, {"username": "envadmin", "role": "owner"})
    assert bad_role.status_code == 400 and "not a valid choice" in _inline(bad_role.content.decode(), "role")
    assert Membership.objects.get(user=env_admin).role == "admin"


def test_an_admin_who_gives_up_their_role_lands_on_the_environments(env_admin: Any, local: Environment) -> None:
    page = _client(env_admin)
    left = page.post(f"/environments/{local.pk}/members/", {"username": "envadmin", "role": "viewer"})
    assert left.status_code == 302 and left["Location"] == "/environments/"
    assert page.get(f"/environments/{local.pk}/members/").status_code == 403
