"""git.py's two reads for create-time checks: a remote's branches (one ls-remote) and a
branch's files (a shallow clone without contents), each bounded in time and leaving
nothing behind."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitsync import git
from tests.conftest import GIT_TOKEN, GIT_USER
from tests.support.gitserver import GitServer, TestRepo
from tests.support.gitserver import git as run_git

AUTH = git.GitAuth(username=GIT_USER, secret=GIT_TOKEN, secrets=(GIT_TOKEN,))


@pytest.fixture
def stalled() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(listener.accept()[0]) for _ in range(8)], daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/stalled.git"
    for connection in held:
        connection.close()
    listener.close()


def test_branches_come_default_first_with_their_heads(app_repo: TestRepo) -> None:
    for name in ("zeta", "alpha"):
        run_git("push", "-q", "origin", f"HEAD:refs/heads/{name}", cwd=app_repo.work)
    found = git.remote_branches(url=app_repo.url, auth=AUTH)
    assert found.names == ["main", "alpha", "zeta"] and found.default == "main"
    assert found.heads["alpha"] == app_repo.head()


def test_files_of_a_branch_are_listed_without_a_working_copy(git_server: GitServer, settings: Any) -> None:
    repo = git_server.create_repo("listed", {"compose.yaml": "x\n", "deploy/a b.yml": "y\n", "ünï.env": "z\n"})
    assert sorted(git.branch_files(url=repo.url, branch="main", auth=AUTH)) == [
        "compose.yaml",
        "deploy/a b.yml",
        "ünï.env",
    ]
    with pytest.raises(git.BranchMissing):
        git.branch_files(url=repo.url, branch="nope", auth=AUTH)
    assert list(Path(settings.RUN_DIR).iterdir()) == []


@pytest.mark.parametrize("read", ["branches", "files"])
def test_a_stalled_remote_is_cut_off_by_the_git_timeout(read: str, stalled: str, settings: Any) -> None:
    settings.GIT_TIMEOUT = 2
    started = time.monotonic()
    with pytest.raises(git.GitError) as refused:
        if read == "branches":
            git.remote_branches(url=stalled, auth=None)
        else:
            git.branch_files(url=stalled, branch="main", auth=None)
    assert time.monotonic() - started < 10
    assert refused.value.unreachable and refused.value.detail == "no answer in 2 s"
    assert list(Path(settings.RUN_DIR).iterdir()) == []
