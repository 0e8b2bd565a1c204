"""API tokens: shown once, stored hashed, scoped, limited to environments, expiring."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from dockhand.models import ApiToken
from stacks.models import Environment

pytestmark = pytest.mark.django_db
SCOPED = {"urlPrefixes": ["https://git.example.test/"]}  # every credential says where it may go


def _issue(api: Any, **fields: Any) -> str:
    response = api.post("/api/tokens", {"name": "ci", **fields}, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["token"])


def _as(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_token_is_shown_once_and_stored_hashed(api: Any) -> None:
    raw = _issue(api, scopes=["deploy:read"])
    assert raw.startswith("dh_") and len(raw) > 40
    listed = api.get("/api/tokens").content.decode()
    assert raw not in listed and raw[:7] in listed
    with connection.cursor() as cursor:
        cursor.execute("SELECT digest, hint FROM dockhand_apitoken")
        digest, hint = cursor.fetchone()
    assert raw not in digest and hint == raw[:7]
    token = ApiToken.objects.get()
    assert token.last_used_at is None
    assert _as(raw).get("/api/git/stacks").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    ("scopes", "read", "sync", "manage"),
    [(["deploy:read"], 200, 403, 403), (["deploy:write"], 200, 404, 403), (["deploy:admin"], 200, 404, 201)],
)
def test_scopes_nest_read_write_admin(api: Any, scopes: list[str], read: int, sync: int, manage: int) -> None:
    client = _as(_issue(api, scopes=scopes))
    assert client.get("/api/git/stacks").status_code == read
    # 404: allowed to sync, but there is no stack 999 (the scope check passed).
    assert client.post("/api/git/stacks/999/sync", {}, format="json").status_code == sync
    assert (
        client.post("/api/git/credentials", {"name": f"c-{scopes[0]}", **SCOPED}, format="json").status_code == manage
    )
    assert client.get("/api/tokens").status_code == (200 if scopes == ["deploy:admin"] else 403)


def test_a_token_limited_to_an_environment_does_not_see_the_others(api: Any) -> None:
    edge = Environment.objects.create(name="edge")
    local_stack = api.post(
        "/api/git/stacks?check=false", {"stackName": "home", "url": "https://e.test/a.git"}, format="json"
    ).json()
    edge_stack = api.post(
        "/api/git/stacks?check=false",
        {"stackName": "far", "url": "https://e.test/a.git", "environmentId": edge.pk},
        format="json",
    ).json()
    client = _as(_issue(api, scopes=["deploy:write"], environmentIds=[edge.pk]))
    assert [s["stackName"] for s in client.get("/api/git/stacks").json()] == ["far"]
    assert client.get(f"/api/git/stacks/{local_stack['id']}").status_code == 404
    assert client.post(f"/api/git/stacks/{local_stack['id']}/sync", {}, format="json").status_code == 404
    assert client.get(f"/api/git/stacks/{edge_stack['id']}").status_code == 200


def test_bad_expired_and_deleted_tokens_are_401(api: Any) -> None:
    assert _as("dh_not-a-real-token").get("/api/git/stacks").status_code == 401
    raw = _issue(api, scopes=["deploy:read"])
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _as(raw).get("/api/git/stacks")
    assert response.status_code == 401 and response.json() == {
        "error": "Invalid or expired API token",
        "code": "unauthenticated",
    }
    fresh = _issue(api, scopes=["deploy:read"])
    token_id = ApiToken.objects.get(hint=fresh[:7]).pk
    assert api.delete(f"/api/tokens/{token_id}").status_code == 204
    assert _as(fresh).get("/api/git/stacks").status_code == 401


def test_token_input_is_validated(api: Any) -> None:
    assert "scopes" in api.post("/api/tokens", {"name": "x", "scopes": []}, format="json").json()["fields"]
    assert "scopes" in api.post("/api/tokens", {"name": "x", "scopes": ["root"]}, format="json").json()["fields"]
    assert (
        "environmentIds"
        in api.post(
            "/api/tokens", {"name": "x", "scopes": ["deploy:read"], "environmentIds": [987]}, format="json"
        ).json()["fields"]
    )
    past = (timezone.now() - timedelta(days=1)).isoformat()
    assert (
        "expiresAt"
        in api.post("/api/tokens", {"name": "x", "scopes": ["deploy:read"], "expiresAt": past}, format="json").json()[
            "fields"
        ]
    )


def test_a_bearer_token_needs_no_csrf_but_a_cookie_session_does(api: Any, admin: Any) -> None:
    raw = _issue(api, scopes=["deploy:admin"])
    strict = APIClient(enforce_csrf_checks=True)
    strict.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert strict.post("/api/git/credentials", {"name": "via-token", **SCOPED}, format="json").status_code == 201
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(admin)
    assert session.post("/api/git/credentials", {"name": "via-cookie", **SCOPED}, format="json").status_code == 403


def test_a_token_names_only_environments_its_user_sees(deployer: Any) -> None:
    edge = Environment.objects.create(name="edge")
    local = Environment.objects.get(name="local")
    client = APIClient()
    client.force_login(deployer)
    hidden = client.post(
        "/api/tokens", {"name": "x", "scopes": ["deploy:read"], "environmentIds": [edge.pk]}, format="json"
    )
    # The same answer as for an environment that does not exist: the name stays hidden.
    assert hidden.status_code == 400 and hidden.json()["fields"] == {
        "environmentIds": [f"unknown environment ids: [{edge.pk}]"]
    }
    seen = client.post(
        "/api/tokens", {"name": "x", "scopes": ["deploy:read"], "environmentIds": [local.pk]}, format="json"
    )
    assert seen.status_code == 201 and seen.json()["environmentIds"] == [local.pk]


def test_a_token_cannot_make_one_that_reaches_further_or_lives_longer(api: Any) -> None:
    edge = Environment.objects.create(name="edge")
    local = Environment.objects.get(name="local")
    expires = timezone.now() + timedelta(days=1)
    parent = _as(_issue(api, scopes=["deploy:admin"], environmentIds=[edge.pk], expiresAt=expires.isoformat()))
    child = parent.post("/api/tokens", {"name": "child", "scopes": ["deploy:read"]}, format="json")
    assert child.status_code == 201, child.content
    assert child.json()["environmentIds"] == [edge.pk]
    assert ApiToken.objects.get(name="child").expires_at == ApiToken.objects.get(name="ci").expires_at
    later = (expires + timedelta(days=30)).isoformat()
    longer = parent.post(
        "/api/tokens", {"name": "longer", "scopes": ["deploy:read"], "expiresAt": later}, format="json"
    )
    assert ApiToken.objects.get(pk=longer.json()["id"]).expires_at == ApiToken.objects.get(name="ci").expires_at
    wider = parent.post(
        "/api/tokens", {"name": "w", "scopes": ["deploy:read"], "environmentIds": [local.pk]}, format="json"
    )
    assert wider.status_code == 400 and "environmentIds" in wider.json()["fields"]
