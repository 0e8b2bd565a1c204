"""Start-up pieces: the first admin, health, the queue's delivery settings."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from stacks.models import Environment

pytestmark = pytest.mark.django_db


def test_the_first_admin_gets_a_generated_password_shown_once(settings: Any) -> None:
    settings.ADMIN_PASSWORD = None
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    password = re.search(r"password \(shown once\): (\S+)", out.getvalue())
    assert password, out.getvalue()
    assert (
        APIClient()
        .post("/api/auth/login", {"username": "admin", "password": password.group(1)}, format="json")
        .status_code
        == 200
    )
    again = io.StringIO()
    call_command("ensure_admin", stdout=again)
    assert again.getvalue() == "" and get_user_model().objects.count() == 1


def test_the_first_admin_takes_the_configured_password(settings: Any) -> None:
    settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD = "root", "Given-pass-123"
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "Given-pass-123" not in out.getvalue()
    assert (
        APIClient()
        .post("/api/auth/login", {"username": "root", "password": "Given-pass-123"}, format="json")
        .status_code
        == 200
    )


def test_health_is_unhealthy_without_a_worker_and_reports_each_engine(docker_image: str, api: APIClient) -> None:
    Environment.objects.create(name="far", docker_host="tcp://127.0.0.1:9")  # nothing listens there
    response = api.get("/api/health")  # an owner is told about every engine
    assert response.status_code == 503
    body = response.json()
    assert body["details"] == "unhealthy"
    assert "worker" in body["error"] and body["worker"] == "no django-q2 cluster is running"
    assert body["database"] == "ok"
    assert body["engines"]["local"].startswith("Docker ") and "API 1." in body["engines"]["local"]
    assert body["engines"]["far"].startswith("unreachable: ")
    assert "docker" not in body["error"]  # another environment's engine does not fail this node


def test_health_asks_the_local_engine_every_time_and_other_engines_once_a_while(
    docker_image: str, monkeypatch: pytest.MonkeyPatch, api: APIClient
) -> None:
    """A monitor polling /api/health must not open an ssh login (or a TLS handshake) to
    every remote engine each time; the node's own engine is always asked."""
    from stacks import engine
    from stacks.services import environments

    far = Environment.objects.create(name="far", docker_host="tcp://127.0.0.1:9")
    asked: list[str] = []
    real_ping = engine.ping

    def counting_ping(endpoint: engine.Endpoint) -> str:
        asked.append(endpoint.host or "local")
        return real_ping(endpoint)

    monkeypatch.setattr(engine, "ping", counting_ping)
    for _ in range(3):
        assert api.get("/api/health").json()["engines"]["far"].startswith("unreachable: ")
    assert asked.count("tcp://127.0.0.1:9") == 1 and len(asked) == 4  # local: 3 times
    far.docker_host = "tcp://127.0.0.1:10"  # a changed address is asked at once
    far.save()
    api.get("/api/health")
    assert asked[-2:].count("tcp://127.0.0.1:10") == 1
    assert environments.OTHER_ENGINES_SECONDS <= 30


def test_a_long_deploy_is_never_handed_to_a_second_worker() -> None:
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"]  # type: ignore[operator]
    assert q["timeout"] > settings.DEPLOY_TIMEOUT + settings.GIT_TIMEOUT  # type: ignore[operator]
    assert q["max_attempts"] == 1


def test_the_local_environment_exists_from_the_first_migration(api: Any) -> None:
    envs = api.get("/api/environments").json()
    assert [e["name"] for e in envs] == ["local"]
    assert (
        api.post("/api/environments", {"name": "remote", "dockerHost": "bash -c x"}, format="json").status_code == 400
    )
    created = api.post("/api/environments", {"name": "remote", "dockerHost": "tcp://10.0.0.5:2376"}, format="json")
    assert created.status_code == 201
    local_id = envs[0]["id"]
    assert api.delete(f"/api/environments/{local_id}").status_code == 409


def test_a_request_crosses_into_a_thread_once_for_its_whole_middleware_chain() -> None:
    """Every middleware and view is synchronous: the chain is loaded as such and run in
    one hop from Daphne's event loop (the stock handler made three, benchmark #4)."""
    from asgiref.sync import async_to_sync, iscoroutinefunction

    from dockhand.asgi import application, django_asgi

    assert not iscoroutinefunction(django_asgi._middleware_chain)
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, Any]:
        message = next(messages, None)
        if message is None:  # the client stays connected
            await asyncio.Event().wait()
        return message or {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    host = [(b"host", b"localhost")]  # a name this server answers to
    scope = {"type": "http", "method": "GET", "path": "/no-such-page", "query_string": b"", "headers": host}
    async_to_sync(application)(scope, receive, send)
    assert sent[0]["status"] == 404 and sent[0]["type"] == "http.response.start"


def test_the_web_process_keeps_the_garbage_collector_off_its_startup_heap(tmp_path: Path) -> None:
    """What Daphne imports freezes the ~150,000 objects loaded at start out of the
    collections and lets young ones wait for 50,000 allocations (benchmark #5)."""
    env = {**os.environ, "DOCKHAND_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "dockhand.settings"}
    shown = subprocess.run(
        [sys.executable, "-c", "import gc, dockhand.asgi; print(gc.get_threshold()[0], gc.get_freeze_count())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    threshold, frozen = int(shown[0]), int(shown[1])
    assert threshold == 50_000 and frozen > 50_000
