"""The audit log: who or what did what to which object, never a secret."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from dockhand.models import AuditEvent
from stacks.models import GitStack
from stacks.services.schedules import auto_sync_tick
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db

SECRET = "audit-Secret-Value-551"
TOKEN = "audit-token-Value-772"


def _events() -> list[tuple[str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("actor", "action"))


def test_people_tokens_webhooks_and_schedules_are_named(
    api: Any, admin: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo, webhookEnabled=True, autoUpdate=True)
    api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    raw = api.post("/api/tokens", {"name": "ci", "scopes": ["deploy:write"]}, format="json").json()["token"]
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    bot.post(f"/api/git/stacks/{stack['id']}/sync", {"force": True}, format="json")
    new = app_repo.commit({"README.md": "v2\n"}, "v2")
    hook = hooks.gitea_push(app_repo, stack["webhookSecret"], before=stack["lastCommit"] or new, shas=[new])
    APIClient().post(
        f"/api/git/stacks/{stack['id']}/webhook", data=hook.body, content_type="application/json", **hook.meta()
    )
    GitStack.objects.update(next_auto_sync=timezone.now() - timedelta(minutes=1))
    auto_sync_tick()
    events = _events()
    assert ("user:admin", "stack.create") in events
    assert ("user:admin", "stack.sync") in events
    assert ("user:admin", "token.create") in events
    assert ("token:ci", "stack.sync") in events
    assert ("webhook:gitea", "stack.sync") in events
    assert ("schedule", "stack.sync") in events


def test_no_secret_is_recorded_and_the_log_can_be_read(api: Any, admin: Any) -> None:
    cred = api.post(
        "/api/git/credentials",
        {"name": "c", "authType": "token", "token": TOKEN, "urlPrefixes": ["https://e.test/"]},
        format="json",
    ).json()
    api.put(f"/api/git/credentials/{cred['id']}", {"token": TOKEN + "2"}, format="json")
    stack = api.post(
        "/api/git/stacks?check=false",
        {
            "stackName": "s",
            "url": "https://e.test/a.git",
            "envVars": [{"key": "DB", "value": SECRET, "isSecret": True}],
        },
        format="json",
    ).json()
    api.put(
        f"/api/git/stacks/{stack['id']}",
        {"envVars": [{"key": "DB", "value": SECRET + "x", "isSecret": True}]},
        format="json",
    )
    APIClient().post("/api/auth/login", {"username": "admin", "password": SECRET}, format="json")
    listed = api.get("/api/audit?limit=200")
    assert listed.status_code == 200
    body = listed.json()
    actions = [e["action"] for e in body["data"]]
    assert {"credential.create", "credential.update", "stack.create", "stack.update", "auth.login_failed"} <= set(
        actions
    )
    update = next(e for e in body["data"] if e["action"] == "credential.update")
    assert update["detail"] == "authType=token secrets set: token" and update["actor"] == "user:admin"
    assert "envVars(DB)" in next(e for e in body["data"] if e["action"] == "stack.update")["detail"]
    page = Client()
    page.force_login(admin)
    html = page.get("/audit/").content.decode()
    for text in (listed.content.decode(), html):
        assert SECRET not in text and TOKEN not in text
    assert "credential.update" in html


def test_reading_the_audit_log_needs_the_admin_scope(api: Any) -> None:
    raw = api.post("/api/tokens", {"name": "r", "scopes": ["deploy:write"]}, format="json").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/audit").status_code == 403
    assert APIClient().get("/api/audit").status_code == 401
