"""Dockhand-compatible reads (Step 16): the session, the version, the notification
channels (their URLs masked), and Dockhand's `/api/stacks` as the projects list."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from gitsync.models import Repository
from stacks.models import Environment, GitStack
from stacks.services.stacks import local_environment

pytestmark = pytest.mark.django_db

TOKEN = "T0ken-In-The-Path-123456"


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_the_session_says_who_is_signed_in(api: APIClient) -> None:
    mine = api.get("/api/auth/session").json()
    assert mine["authenticated"] is True and mine["user"]["username"] == "admin" and mine["user"]["isAdmin"]
    anonymous = APIClient().get("/api/auth/session")
    assert anonymous.status_code == 200 and anonymous.json() == {"authenticated": False, "authEnabled": True}


def test_the_version_is_answered(api: APIClient) -> None:
    assert api.get("/api/system/version").json()["version"]
    assert APIClient().get("/api/system/version").status_code == 401


def test_notification_channels_are_listed_masked_to_those_who_see_them(api: APIClient, viewer: Any) -> None:
    local = local_environment()
    local.notify_urls = f"discord://hooks.example/{TOKEN}\n"
    local.save()
    hidden = Environment.objects.create(name="hidden", notify_urls=f"json://other.example/{TOKEN}")
    repository = Repository.objects.create(name="r", url="https://git.example.test/r.git")
    GitStack.objects.create(
        name="web",
        environment=local,
        repository=repository,
        project_name="web",
        notify_urls=f"slack://{TOKEN}@team/channel",
    )
    channels = api.get("/api/notifications").json()
    assert [(c["scope"], c["name"]) for c in channels] == [
        ("environment", "hidden"),
        ("environment", "local"),
        ("stack", "web"),
    ]
    assert channels[1]["config"]["urls"] == ["discord://hooks.example…"] and channels[1]["type"] == "apprise"
    shown = _as(viewer).get("/api/notifications")
    assert [c["name"] for c in shown.json()] == ["local", "web"]
    assert TOKEN not in shown.content.decode() and TOKEN not in api.get("/api/notifications").content.decode()
    assert hidden.pk not in [c["environmentId"] for c in shown.json()]


def test_dockhands_stacks_is_the_projects_list(api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks import engine

    found = [engine.ContainerInfo(id="c1", name="x-web-1", service="web", image="i", state="running", project="x")]
    monkeypatch.setattr(engine, "containers", lambda endpoint, projects=None: found)
    listed = api.get(f"/api/stacks?env={local_environment().pk}").json()
    assert [(p["name"], p["managed"], p["status"]) for p in listed] == [("x", False, "running")]
    assert api.get("/api/stacks?env=nope").json()["code"] == "validation_error"
    assert api.get("/api/stacks?env=999").json()["code"] == "not_found"


def test_an_engine_that_does_not_answer_is_a_502_for_its_environment(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacks import engine

    def down(endpoint: object, projects: object = None) -> list[object]:
        raise engine.EngineError("Cannot list containers: connection refused")

    monkeypatch.setattr(engine, "containers", down)
    answer = api.get(f"/api/projects?environmentId={local_environment().pk}")
    assert answer.status_code == 502 and answer.json()["code"] == "engine_unreachable"
    assert api.get("/api/projects").json() == []  # every environment: the offline one lists none
