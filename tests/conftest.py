"""Shared fixtures: the real git server, the real Docker engine, and a fixed cast."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from tests.support import docker as dockersupport
from tests.support.gitserver import GitServer, TestRepo, start_git_server
from tests.support.vault import openbao  # noqa: F401 (a fixture: a real OpenBao dev server)

GIT_USER = "deployer"
GIT_TOKEN = "ghp-Test-Token-7f3a9c1e5b"
SECRET_VALUE = "s3cr3t-Value-9d41"

COMPOSE = """\
services:
  app:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      PLAIN: ${{PLAIN:-unset}}
      SECRET: ${{SECRET:-unset}}
      FROM_REPO: ${{FROM_REPO:-unset}}
      GIT_COMMIT_SHA: ${{GIT_COMMIT_SHA:-unset}}
      VERSION: "{version}"
"""
SLOW_COMPOSE = """\
services:
  migrate:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep {seconds}"]
    stop_grace_period: 1s
  app:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      VERSION: "{version}"
      API_KEY: ${{API_KEY:-unset}}
    depends_on:
      migrate:
        condition: service_completed_successfully
"""
REPO_ENV = "SECRET=from-repo-env\nFROM_REPO=repo-value\nPLAIN=from-repo\n"


def need(what: str, available: bool) -> None:
    """Real parts are required under CI=true; elsewhere a missing one skips."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required when CI=true")
    pytest.skip(f"{what} is not available on this machine")  # REQUIRE_ real parts outside CI only


def compose_file(version: str = "1", image: str = dockersupport.IMAGE) -> str:
    return COMPOSE.format(image=image, version=version)


def slow_compose_file(version: str = "1", *, seconds: int = 4) -> str:
    """Compose waits for a `migrate` service that sleeps first: a deploy that takes time
    and prints lines along the way."""
    return SLOW_COMPOSE.format(image=dockersupport.IMAGE, version=version, seconds=seconds)


@pytest.fixture(scope="session")
def docker_image() -> str:
    need("a Docker engine", dockersupport.engine_available())
    return dockersupport.ensure_image()


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    need("git", shutil.which("git") is not None)
    server = start_git_server(tmp_path_factory.mktemp("git-server"), GIT_USER, GIT_TOKEN)
    yield server
    server.stop()


@pytest.fixture
def app_repo(git_server: GitServer) -> TestRepo:
    """A fresh repository with a compose file and a repo `.env`."""
    return git_server.create_repo(
        f"app-{uuid.uuid4().hex[:8]}", {"compose.yaml": compose_file("1"), ".env": REPO_ENV, "README.md": "app\n"}
    )


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Rate-limit counters live in the cache: no test inherits another's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _migration_rows_present(request: pytest.FixtureRequest) -> None:
    """Restore the rows migrations seed (the `local` environment) after a transactional test.

    A transactional test ends by flushing every table, and Django reloads the serialized
    migration data only at the start of the next serialized_rollback test. Under xdist a
    plain test can be scheduled right after one and would find the seed gone; reload it
    inside this test's transaction, so it is rolled back with the test.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
        # Without it the flush at its end re-creates the content types, and the seed
        # reloaded here for the next test on this worker collides with them.
        pytest.fail("a transactional test needs serialized_rollback=True (see _migration_rows_present)")
    if marker is None or marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("db")  # inside the test's transaction, whatever the fixture order
    from django.db import connection

    from stacks.models import Environment

    contents = getattr(connection, "_test_serialized_contents", None)
    if contents and not Environment.objects.exists():
        connection.creation.deserialize_db_from_string(contents)


@pytest.fixture(autouse=True)
def _private_data_dir(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path / "data"
    settings.STACKS_DIR = settings.DATA_DIR / "stacks"
    settings.RUN_DIR = settings.DATA_DIR / "run"


@pytest.fixture
def projects() -> Iterator[list[str]]:
    """Compose projects a test created; removed from the engine afterwards."""
    created: list[str] = []
    yield created
    if dockersupport.engine_available():
        for project in created:
            dockersupport.remove_project(project)


@pytest.fixture
def admin(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(username="admin", password="admin-pass-123")


@pytest.fixture
def api(admin: Any) -> APIClient:
    client = APIClient()
    client.force_login(admin)
    return client


@pytest.fixture
def token_credential(api: APIClient, git_server: GitServer) -> dict[str, Any]:
    response = api.post(
        "/api/git/credentials",
        {
            "name": "ci-token",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


def unique_stack_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_stack(api: APIClient, token_credential: dict[str, Any], projects: list[str]) -> Any:
    """Create a stack through the API; its compose project is cleaned up afterwards."""

    def _make(repo: TestRepo, **extra: Any) -> dict[str, Any]:
        body = {
            "stackName": unique_stack_name(),
            "url": repo.url,
            "branch": repo.branch,
            "credentialId": token_credential["id"],
            "envFilePath": ".env",
            "envVars": [
                {"key": "PLAIN", "value": "plain-override", "isSecret": False},
                {"key": "SECRET", "value": SECRET_VALUE, "isSecret": True},
            ],
            **extra,
        }
        response = api.post("/api/git/stacks", body, format="json")
        assert response.status_code == 201, response.content
        stack = dict(response.json())
        projects.append(stack["projectName"])
        return stack

    return _make


@pytest.fixture
def compose_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every compose command dockhand runs, when it runs (the real commands
    still run)."""
    from stacks import compose

    calls: list[str] = []
    real_run, real_config = compose.run, compose.config

    def run(args: Any, **kwargs: Any) -> None:
        calls.append(" ".join(args))
        return real_run(args, **kwargs)

    def config(project: Any, **kwargs: Any) -> dict[str, object]:
        calls.append("config")
        return real_config(project, **kwargs)

    def go(held: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(" ".join(held.args))  # an `up` started ahead runs from here
        return real_go(held, *args, **kwargs)

    real_go = compose.HeldUp.go
    monkeypatch.setattr(compose, "run", run)
    monkeypatch.setattr(compose, "config", config)
    monkeypatch.setattr(compose.HeldUp, "go", go)
    return calls


def container_name(stack: dict[str, Any], service: str = "app") -> str:
    return f"{stack['projectName']}-{service}-1"


@pytest.fixture
def deployment() -> Any:
    """A running deployment of a stack that was never synced (no git or engine needed)."""
    from gitsync.models import Repository
    from stacks.models import Deployment, GitStack
    from stacks.services.stacks import local_environment

    repo = Repository.objects.create(name="r", url="https://git.example.test/r.git")
    stack = GitStack.objects.create(name="s", environment=local_environment(), repository=repo, project_name="s")
    deployment = Deployment.objects.create(stack=stack, trigger="api")
    deployment.start()
    return deployment


def session_headers(user: Any) -> list[tuple[bytes, bytes]]:
    """WebSocket handshake headers of a browser logged in as `user`, on this host."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        (b"origin", b"http://localhost:8000"),
        (b"host", b"localhost:8000"),
    ]


def _member(django_user_model: Any, name: str, role: str | None) -> Any:
    from stacks.models import Membership
    from stacks.services.stacks import local_environment

    user = django_user_model.objects.create_user(username=name, password=f"{name}-pass-123")
    if role:
        Membership.objects.create(user=user, environment=local_environment(), role=role)
    return user


@pytest.fixture
def deployer(django_user_model: Any) -> Any:
    """May see and sync the stacks of `local`."""
    return _member(django_user_model, "deployer", "deployer")


@pytest.fixture
def viewer(django_user_model: Any) -> Any:
    """May only look at the stacks of `local`."""
    return _member(django_user_model, "viewer", "viewer")


@pytest.fixture
def outsider(django_user_model: Any) -> Any:
    """Signed in, but a member of no environment."""
    return _member(django_user_model, "outsider", None)


@pytest.fixture
def env_admin(django_user_model: Any) -> Any:
    """Administers `local` (its stacks and members), but is no owner (superuser)."""
    return _member(django_user_model, "envadmin", "admin")
