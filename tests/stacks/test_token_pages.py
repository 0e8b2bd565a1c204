"""API token pages: each user makes, sees and revokes their own tokens (as the API
lists them); a token is shown once; the environments offered are the user's."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from dockhand.models import ApiToken
from stacks.models import Environment

pytestmark = pytest.mark.django_db

ROLES = ["admin", "env_admin", "deployer", "viewer", "outsider"]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _inline(html: str, field: str) -> str:
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', html)
    assert found, f"no inline error for {field}"
    return found.group(1)


def _shown_token(html: str) -> str:
    found = re.search(r'id="token-value" value="(dh_[^"]+)"', html)
    assert found, "the new token is not on the page"
    return found.group(1)


@pytest.mark.parametrize("role", ROLES)
def test_every_user_makes_reads_once_and_revokes_their_own_token(request: pytest.FixtureRequest, role: str) -> None:
    user = request.getfixturevalue(role)
    page = _client(user)
    assert "You have no API tokens yet" in page.get("/tokens/").content.decode()
    created = page.post("/tokens/new/", {"name": "ci", "scope": "deploy:read"})
    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    html = created.content.decode()
    raw = _shown_token(html)
    assert 'data-copy="#token-value"' in html and "/static/js/copy.js" in html
    listed = page.get("/tokens/").content.decode()
    assert raw not in listed and raw[:7] in listed and 'data-token="ci"' in listed and "never" in listed

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert bearer.get("/api/git/stacks").status_code == 200
    last_used = re.search(r'class="text-nowrap last-used">([^<]*)<', page.get("/tokens/").content.decode())
    assert last_used and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", last_used.group(1))

    token = ApiToken.objects.get(user=user)
    confirm = page.get(f"/tokens/{token.pk}/revoke/")
    assert confirm.status_code == 200 and 'id="confirm-revoke"' in confirm.content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()  # asking is no revoking
    assert page.post(f"/tokens/{token.pk}/revoke/").status_code == 302
    assert "Token ci revoked." in page.get("/tokens/").content.decode()
    assert bearer.get("/api/git/stacks").status_code == 401


def test_a_user_sees_and_revokes_only_their_own_tokens(admin: Any, viewer: Any) -> None:
    mine = _client(viewer)
    mine.post("/tokens/new/", {"name": "viewer-ci", "scope": "deploy:read"})
    _client(admin).post("/tokens/new/", {"name": "owner-ci", "scope": "deploy:admin"})
    # As the API: owners too see their own tokens only (a token acts as its user).
    assert "owner-ci" not in mine.get("/tokens/").content.decode()
    assert "viewer-ci" not in _client(admin).get("/tokens/").content.decode()
    owners = ApiToken.objects.get(name="owner-ci")
    assert mine.get(f"/tokens/{owners.pk}/revoke/").status_code == 404
    assert mine.post(f"/tokens/{owners.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=owners.pk).exists()


@pytest.mark.parametrize(("role", "offered"), [("admin", ["local", "edge"]), ("viewer", ["local"]), ("outsider", [])])
def test_the_form_offers_the_environments_the_user_sees(
    request: pytest.FixtureRequest, role: str, offered: list[str]
) -> None:
    Environment.objects.create(name="edge")
    html = _client(request.getfixturevalue(role)).get("/tokens/new/").content.decode()
    shown = re.findall(r'<label class="form-check-label" for="env-\d+">([^<]+)</label>', html)
    assert shown == offered
    if not offered:
        assert "You are a member of no environment yet" in html


def test_a_token_for_chosen_environments_and_a_date(viewer: Any) -> None:
    local = Environment.objects.get(name="local")
    day = (timezone.localdate() + timedelta(days=10)).isoformat()
    page = _client(viewer)
    page.post(
        "/tokens/new/", {"name": "deploys", "scope": "deploy:write", "environmentIds": [local.pk], "expiresAt": day}
    )
    token = ApiToken.objects.get(name="deploys")
    assert token.scopes == ["deploy:write"] and token.environment_ids == [local.pk]
    assert timezone.localtime(token.expires_at).isoformat().startswith(f"{day}T00:00:00")
    listed = page.get("/tokens/").content.decode()
    assert "Deploy" in listed and day in listed and "<td>local</td>" in listed


def test_a_refused_form_says_why_next_to_the_field_and_keeps_the_input(viewer: Any) -> None:
    edge = Environment.objects.create(name="edge")
    local = Environment.objects.get(name="local")
    page = _client(viewer)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    cases = [
        ({"name": "", "scope": "deploy:write", "environmentIds": [local.pk]}, "name"),
        ({"name": "x", "environmentIds": [local.pk]}, "scopes"),
        ({"name": "x", "scope": "deploy:write", "expiresAt": yesterday}, "expiresAt"),
        ({"name": "x", "scope": "deploy:write", "expiresAt": "soon"}, "expiresAt"),
        ({"name": "x", "scope": "deploy:write", "environmentIds": [edge.pk]}, "environmentIds"),  # forged
    ]
    for body, field in cases:
        refused = page.post("/tokens/new/", body)
        html = refused.content.decode()
        assert refused.status_code == 400 and _inline(html, field), field
        if "scope" in body:
            assert f'value="{body["scope"]}" checked' in html
        if body.get("environmentIds") == [local.pk]:
            assert f'value="{local.pk}" checked' in html
    assert "edge" not in page.post("/tokens/new/", cases[-1][0]).content.decode()  # not named back
    assert not ApiToken.objects.exists()
