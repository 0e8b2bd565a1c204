"""/api/users: owners create users, deactivate them, make them owners and reset their
passwords; nobody locks themself out and the last owner stays one."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from dockhand.accounts import user_create, user_update
from dockhand.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "carol-Pass-4471"


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _login(username: str, password: str) -> int:
    response = APIClient().post("/api/auth/login", {"username": username, "password": password}, format="json")
    return int(response.status_code)


def _create(api: APIClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/users", {"username": "carol", "password": PASSWORD, **fields}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_only_owners_see_and_manage_users(api: APIClient, env_admin: Any, deployer: Any, viewer: Any) -> None:
    assert APIClient().get("/api/users").status_code == 401
    for member in (env_admin, deployer, viewer):
        refused = _as(member).get("/api/users")
        assert refused.status_code == 403 and refused.json() == {
            "error": "Only owners manage users",
            "code": "forbidden",
        }
        assert _as(member).post("/api/users", {"username": "x", "password": PASSWORD}, format="json").status_code == 403
        assert _as(member).put(f"/api/users/{viewer.pk}", {"isActive": False}, format="json").status_code == 403
    viewer.refresh_from_db()
    assert viewer.is_active
    listed = api.get("/api/users").json()
    assert [u["username"] for u in listed] == ["admin", "deployer", "envadmin", "viewer"]
    assert api.get("/api/users/999").json() == {"error": "User not found", "code": "not_found"}


def test_an_owner_creates_a_user_who_signs_in(api: APIClient) -> None:
    created = _create(api)
    assert {k: created[k] for k in ("username", "isActive", "isOwner", "lastLogin")} == {
        "username": "carol",
        "isActive": True,
        "isOwner": False,
        "lastLogin": None,
    }
    assert "password" not in created and PASSWORD not in api.get(f"/api/users/{created['id']}").content.decode()
    assert _login("carol", PASSWORD) == 200
    assert api.get(f"/api/users/{created['id']}").json()["lastLogin"] is not None
    assert AuditEvent.objects.filter(action="user.create", actor="user:admin").exists()
    assert not AuditEvent.objects.filter(detail__contains=PASSWORD).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "carol", "password": "short"}, "password"),  # Django's MinimumLengthValidator
        ({"username": "carol"}, "password"),
        ({"username": "carol", "password": ""}, "password"),
        ({"username": "admin", "password": PASSWORD}, "username"),
        ({"username": "no spaces!", "password": PASSWORD}, "username"),
    ],
)
def test_a_bad_new_user_is_a_400_naming_the_field(api: APIClient, body: dict[str, Any], field: str) -> None:
    response = api.post("/api/users", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [field] and response.json()["error"].startswith(f"{field}: ")


def test_a_deactivated_user_cannot_sign_in_and_their_tokens_answer_401(api: APIClient) -> None:
    carol = _create(api)
    as_carol = APIClient()
    as_carol.post("/api/auth/login", {"username": "carol", "password": PASSWORD}, format="json")
    token = as_carol.post("/api/tokens", {"name": "ci", "scopes": ["deploy:read"]}, format="json").json()["token"]
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.get("/api/git/stacks").status_code == 200

    changed = api.put(f"/api/users/{carol['id']}", {"isActive": False}, format="json")
    assert changed.status_code == 200 and changed.json()["isActive"] is False
    assert bearer.get("/api/git/stacks").status_code == 401
    assert as_carol.get("/api/git/stacks").status_code == 401  # the open session ends too
    assert _login("carol", PASSWORD) == 401

    assert api.put(f"/api/users/{carol['id']}", {"isActive": True}, format="json").json()["isActive"] is True
    assert _login("carol", PASSWORD) == 200 and bearer.get("/api/git/stacks").status_code == 200


def test_an_owner_resets_a_password_through_the_validators(api: APIClient) -> None:
    carol = _create(api)
    short = api.put(f"/api/users/{carol['id']}", {"password": "short"}, format="json")
    assert short.status_code == 400 and list(short.json()["fields"]) == ["password"]
    assert _login("carol", PASSWORD) == 200
    new = "carol-New-Pass-9902"
    assert api.put(f"/api/users/{carol['id']}", {"password": new}, format="json").status_code == 200
    assert _login("carol", PASSWORD) == 401 and _login("carol", new) == 200
    event = AuditEvent.objects.get(action="user.update")
    assert event.detail == "password reset" and new not in event.detail


def test_an_owner_makes_and_unmakes_owners(api: APIClient, viewer: Any) -> None:
    made = api.put(f"/api/users/{viewer.pk}", {"isOwner": True}, format="json")
    assert made.status_code == 200 and made.json()["isOwner"] is True
    viewer.refresh_from_db()
    assert viewer.is_superuser and viewer.is_staff
    assert _as(viewer).get("/api/users").status_code == 200
    assert api.put(f"/api/users/{viewer.pk}", {"isOwner": False}, format="json").json()["isOwner"] is False
    assert _as(viewer).get("/api/users").status_code == 403
    renamed = api.put(f"/api/users/{viewer.pk}", {"username": "someone"}, format="json")
    assert renamed.status_code == 400 and list(renamed.json()["fields"]) == ["username"]


def test_nobody_locks_themself_out(api: APIClient, admin: Any) -> None:
    for body, field in (
        ({"isActive": False}, "isActive"),
        ({"isOwner": False}, "isOwner"),
        ({"password": "x" * 12}, "password"),
    ):
        refused = api.put(f"/api/users/{admin.pk}", body, format="json")
        assert refused.status_code == 400 and list(refused.json()["fields"]) == [field], refused.content
    admin.refresh_from_db()
    assert admin.is_active and admin.is_superuser and admin.check_password("admin-pass-123")
    # Saying what already holds is no change, and no refusal.
    assert api.put(f"/api/users/{admin.pk}", {"isActive": True, "isOwner": True}, format="json").status_code == 200


def test_the_last_active_owner_stays_one(admin: Any, viewer: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        user_update(user=admin, by=None, is_active=False)
    assert "last active owner" in str(refused.value.detail["isActive"])
    with pytest.raises(ValidationError):
        user_update(user=admin, by=None, is_owner=False)
    user_update(user=viewer, by=admin, is_owner=True)
    user_update(user=admin, by=viewer, is_owner=False)  # another owner remains
    admin.refresh_from_db()
    assert not admin.is_superuser
    with pytest.raises(ValidationError):
        user_update(user=viewer, by=None, is_active=False)


def test_tokens_need_the_admin_scope_for_users(api: APIClient) -> None:
    def bearer(scope: str) -> APIClient:
        raw = api.post("/api/tokens", {"name": scope, "scopes": [scope]}, format="json").json()["token"]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    assert bearer("deploy:write").get("/api/users").status_code == 403
    assert bearer("deploy:admin").get("/api/users").status_code == 200


def test_a_username_taken_meanwhile_is_a_400_not_a_500(admin: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        user_create(username="admin", password=PASSWORD)  # past the serializer's check
    assert list(refused.value.detail) == ["username"]
