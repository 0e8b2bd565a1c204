"""The engine's API version is asked once, not before every call (stacks/engine.py):
against the real engine, a second call makes no `GET /version`, the version is asked
again after VERSION_KEPT, and a version the engine refuses is forgotten after one
failure."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import pytest
from docker.api.client import APIClient

from stacks import engine
from tests.conftest import need


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    need(
        "docker",
        shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0,
    )
    monkeypatch.setattr(engine, "_versions", {})
    calls: list[float] = []
    real = APIClient._retrieve_server_version

    def counted(self: APIClient) -> Any:
        calls.append(time.monotonic())
        return real(self)

    monkeypatch.setattr(APIClient, "_retrieve_server_version", counted)
    return calls


def test_the_version_is_asked_once_for_many_calls(asked: list[float]) -> None:
    local = engine.Endpoint()
    for _ in range(3):
        engine.containers(local, ["no-such-project"])
    assert len(asked) == 1


def test_it_is_asked_again_after_a_while(asked: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    local = engine.Endpoint()
    engine.containers(local, ["no-such-project"])
    monkeypatch.setattr(engine, "VERSION_KEPT", 0.0)
    engine.containers(local, ["no-such-project"])
    assert len(asked) == 2


def test_a_version_the_engine_refuses_is_forgotten_after_one_failure(asked: list[float]) -> None:
    local = engine.Endpoint()
    # As if the engine was replaced by an older one since the version was asked.
    engine._versions[""] = ("9.99", time.monotonic())
    with pytest.raises(engine.EngineError):
        engine.containers(local, ["no-such-project"])
    assert asked == []
    assert engine.containers(local, ["no-such-project"]) == []
    assert len(asked) == 1
