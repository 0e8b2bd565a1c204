"""`up` started beside the checks: held before its first read, it does nothing until let
go, and nothing at all when the checks refuse."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from stacks import compose
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(tmp_path: Path, docker_image: str) -> Iterator[compose.ComposeProject]:
    (tmp_path / "compose.yaml").write_text(compose_file("held"))
    name = f"held-{uuid.uuid4().hex[:8]}"
    try:
        yield compose.ComposeProject(name=name, workdir=tmp_path, files=[tmp_path / "compose.yaml"])
    finally:
        dockersupport.remove_project(name)


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "docker-config"
    config.mkdir(mode=0o700)
    return compose.process_env(engine_env={}, docker_config=config)


def _pids() -> set[str]:
    return {p.name for p in (settings.RUN_DIR / "compose-pids").glob("*.pid")}


def test_a_held_up_does_nothing_until_let_go_then_runs(
    project: compose.ComposeProject, run_env: dict[str, str]
) -> None:
    lines: list[str] = []
    with compose.held_up(project, env=run_env, options=compose.UpOptions(timeout=60)) as held:
        time.sleep(1.0)  # far longer than compose takes to start
        process = held._started.proc
        assert process.poll() is None, "compose waits at its gate"
        assert dockersupport.containers(project.name) == [], "and has done nothing yet"
        assert _pids(), "an orphan's pid file is there, as for any run"
        held.go(b'{"auths": {}}', on_line=lines.append, timeout=60, stop=None)
    assert any("Started" in line for line in lines), lines
    assert [c["State"] for c in dockersupport.containers(project.name)] == ["running"]
    assert not (Path(run_env["DOCKER_CONFIG"]) / "held-up").exists()
    assert _pids() == set()


def test_a_held_up_never_let_go_is_ended_unread(project: compose.ComposeProject, run_env: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="the checks refused"):
        with compose.held_up(project, env=run_env, options=compose.UpOptions(timeout=60)) as held:
            process = held._started.proc
            time.sleep(0.5)
            raise RuntimeError("the checks refused")
    assert process.poll() is not None, "the held compose is gone"
    assert dockersupport.containers(project.name) == [], "having created nothing"
    assert not (Path(run_env["DOCKER_CONFIG"]) / "held-up").exists()
    assert _pids() == set()


def test_a_held_up_that_cannot_start_says_so(project: compose.ComposeProject, run_env: dict[str, str]) -> None:
    (project.workdir / "compose.yaml").write_text("services: [not, a, mapping]\n")
    with compose.held_up(project, env=run_env, options=compose.UpOptions(timeout=60)) as held:
        with pytest.raises(compose.ComposeError, match="docker compose failed"):
            held.go(b'{"auths": {}}', on_line=lambda _: None, timeout=60, stop=None)
    assert _pids() == set()


def test_a_config_started_before_the_fetch_reads_the_files_as_fetched(
    project: compose.ComposeProject, run_env: dict[str, str]
) -> None:
    with compose.held_config(project, env=run_env) as ahead:
        time.sleep(0.5)  # started, waiting at its gate
        (project.workdir / "compose.yaml").write_text(compose_file("fetched"))  # what git brings
        model = compose.config(project, env=run_env, ahead=ahead)
        assert ahead.released, "the model came from the run started ahead"
    assert model["services"]["app"]["environment"]["VERSION"] == "fetched"  # type: ignore[index]
    assert _pids() == set()


def test_a_config_started_ahead_for_another_run_is_ended_and_a_fresh_one_runs(
    project: compose.ComposeProject, run_env: dict[str, str]
) -> None:
    with compose.held_config(project, env=run_env) as ahead:
        process = ahead._started.proc
        changed = {**run_env, "API_KEY": "an override added since"}
        model = compose.config(project, env=changed, ahead=ahead)
        assert not ahead.released
    assert process.poll() is not None and _pids() == set()
    assert model["services"]["app"]["environment"]["VERSION"] == "held"  # type: ignore[index]


def test_a_pushed_deploy_reads_its_model_from_the_config_started_before_the_fetch(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_ahead: list[dict[str, object]] = []
    real = compose.HeldConfig.model

    def model(held: compose.HeldConfig) -> dict[str, object]:
        read_ahead.append(real(held))
        return read_ahead[-1]

    monkeypatch.setattr(compose.HeldConfig, "model", model)
    stack = make_stack(app_repo)
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    assert read_ahead == []  # a first deploy has no working copy to start from
    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    assert [m["services"]["app"]["environment"]["VERSION"] for m in read_ahead] == ["2"]  # type: ignore[index]
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "2"


def test_only_a_compose_that_reads_its_config_first_is_started_ahead(tmp_path: Path, docker_image: str) -> None:
    # A stand-in that never reads config.json would not wait at the gate: it would run
    # before the checks. Such a compose is never started ahead.
    stand_in = tmp_path / "compose-like"
    stand_in.write_text("#!/bin/sh\necho 'prints and exits at once'\n")
    stand_in.chmod(0o755)
    assert compose._reads_config_first((str(stand_in),)) is False
    assert compose._reads_config_first(compose.compose_command()) is True
