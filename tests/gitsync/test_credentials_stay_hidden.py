"""Credentials reach git only through the child environment: never argv, never a URL."""

from __future__ import annotations

from typing import Any

import git as gitpython
import pytest

from tests.conftest import GIT_TOKEN

pytestmark = pytest.mark.django_db


def test_git_never_sees_the_token_in_its_arguments(
    api: Any, app_repo: Any, make_stack: Any, monkeypatch: pytest.MonkeyPatch, docker_image: str
) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_execute = gitpython.cmd.Git.execute

    def execute(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((list(command), dict(kwargs.get("env") or {})))
        return real_execute(self, command, *args, **kwargs)

    monkeypatch.setattr(gitpython.cmd.Git, "execute", execute)
    stack = make_stack(app_repo)
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    commands = [" ".join(argv) for argv, _ in seen]
    assert any("ls-remote" in c for c in commands) and any("fetch" in c for c in commands)
    assert all(GIT_TOKEN not in c for c in commands), commands
    # It travels in the environment, for the askpass helper alone.
    network_envs = [env for argv, env in seen if "ls-remote" in argv or "fetch" in argv]
    assert all(env["DOCKHAND_GIT_SECRET"] == GIT_TOKEN for env in network_envs)
    assert all(
        env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ALLOW_PROTOCOL"] == "http:https:ssh" for env in network_envs
    )
