"""Users pages and the user menu: owners manage users through the same service as
/api/users; everyone else gets the styled 403 page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from dockhand.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "dora-Pass-5530"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _inline(html: str, field: str) -> str:
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', html)
    assert found, f"no inline error for {field}"
    return found.group(1)


def test_the_user_menu_has_password_tokens_users_for_owners_and_a_post_logout(admin: Any, deployer: Any) -> None:
    owner_page = _client(admin).get("/stacks/").content.decode()
    menu = owner_page[owner_page.index('id="user-menu"') :]
    for link in ('href="/password/"', 'href="/tokens/"', 'href="/users/"'):
        assert link in menu
    assert re.search(r'<form method="post" action="/logout/">.*?<button class="dropdown-item" id="logout">', menu)
    assert 'href="/logout/"' not in owner_page  # a GET link would not log out (Django wants a POST)
    member_page = _client(deployer).get("/stacks/").content.decode()
    assert 'href="/tokens/"' in member_page and 'href="/users/"' not in member_page
    logged_in = _client(deployer)
    assert logged_in.post("/logout/").status_code == 302
    assert logged_in.get("/stacks/").status_code == 302  # back to the login page


@pytest.mark.parametrize("role", ["viewer", "deployer", "env_admin", "outsider"])
def test_only_owners_reach_the_users_pages(request: pytest.FixtureRequest, admin: Any, role: str) -> None:
    member = _client(request.getfixturevalue(role))
    for url in ("/users/", "/users/new/", f"/users/{admin.pk}/"):
        page = member.get(url)
        html = page.content.decode()
        assert page.status_code == 403 and "Only owners manage users" in html and 'class="navbar' in html, url
    refused = member.post(f"/users/{admin.pk}/", {"isActive": "false"})
    assert refused.status_code == 403
    assert member.post("/users/new/", {"username": "x", "password": PASSWORD}).status_code == 403
    admin.refresh_from_db()
    assert admin.is_active


def test_an_owner_lists_and_creates_users_and_a_bad_form_keeps_what_was_typed(admin: Any, viewer: Any) -> None:
    owner = _client(admin)
    listed = owner.get("/users/").content.decode()
    assert 'data-user="admin"' in listed and 'data-user="viewer"' in listed
    refused = owner.post("/users/new/", {"username": "dora", "password": "short", "isOwner": "on"})
    html = refused.content.decode()
    assert refused.status_code == 400
    assert "too short" in _inline(html, "password")
    assert 'value="dora"' in html and 'id="isOwner" name="isOwner" checked' in html
    assert 'value="short"' not in html  # a password is never sent back
    taken = owner.post("/users/new/", {"username": "viewer", "password": PASSWORD})
    assert taken.status_code == 400 and "already exists" in _inline(taken.content.decode(), "username")
    created = owner.post("/users/new/", {"username": "dora", "password": PASSWORD})
    assert created.status_code == 302 and created["Location"] == "/users/"
    assert "User dora created." in owner.get("/users/").content.decode()
    assert Client().login(username="dora", password=PASSWORD)


def test_an_owner_deactivates_reactivates_promotes_and_resets_a_password(admin: Any, viewer: Any) -> None:
    owner = _client(admin)
    url = f"/users/{viewer.pk}/"
    page = owner.get(url).content.decode()
    assert 'id="toggle-active"' in page and 'id="reset-password"' in page
    assert owner.post(url, {"isActive": "false"}).status_code == 302
    viewer.refresh_from_db()
    assert not viewer.is_active and "Reactivate" in owner.get(url).content.decode()
    assert not Client().login(username="viewer", password="viewer-pass-123")
    owner.post(url, {"isActive": "true"})
    owner.post(url, {"isOwner": "true"})
    viewer.refresh_from_db()
    assert viewer.is_active and viewer.is_superuser
    short = owner.post(url, {"password": "short"})
    assert short.status_code == 400 and "too short" in _inline(short.content.decode(), "password")
    assert owner.post(url, {"password": "viewer-New-Pass-77"}).status_code == 302
    assert "Password reset: viewer." in owner.get(url).content.decode()
    assert Client().login(username="viewer", password="viewer-New-Pass-77")
    assert AuditEvent.objects.filter(action="user.update", detail="password reset").exists()


def test_an_owner_cannot_lock_themself_out_from_the_page(admin: Any) -> None:
    owner = _client(admin)
    url = f"/users/{admin.pk}/"
    page = owner.get(url).content.decode()
    assert (
        'id="toggle-active"' not in page
        and 'id="reset-password"' not in page
        and "You cannot deactivate yourself" in page
    )
    for field, value in (("isActive", "false"), ("isOwner", "false"), ("password", "admin-New-Pass-1")):
        refused = owner.post(url, {field: value})
        assert refused.status_code == 400 and _inline(refused.content.decode(), field), field
    admin.refresh_from_db()
    assert admin.is_active and admin.is_superuser and admin.check_password("admin-pass-123")
