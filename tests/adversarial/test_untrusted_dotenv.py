"""Compose's own `.env` beside the compose file is repository content too: a link out of
the checkout, a link loop or an oversized file is refused before compose reads it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import compose_file
from tests.support.refusals import sync_refused

pytestmark = pytest.mark.django_db

CANARY = "CANARY-dotenv-key-material-41c7"


@pytest.fixture
def canary_file(tmp_path: Path) -> Path:
    """A server file a repository must not read (a dotenv, so compose would take it)."""
    path = tmp_path / "server-secrets.env"
    path.write_text(f"FROM_REPO={CANARY}\n")
    return path


def _monorepo(git_server: Any, name: str, dotenv: str | None = None) -> Any:
    files = {"apps/web/compose.yaml": compose_file()}
    if dotenv is not None:
        files["apps/web/.env"] = dotenv
    return git_server.create_repo(f"{name}-{uuid.uuid4().hex[:8]}", files)


def test_a_dotenv_symlinked_out_of_the_checkout_is_refused(
    api: Any, git_server: Any, make_stack: Any, canary_file: Path
) -> None:
    repo = _monorepo(git_server, "dotenv-out")
    os.symlink(canary_file, repo.work / "apps/web/.env")
    repo.commit({}, ".env is a link to a server file")
    stack = make_stack(repo, composePath="apps/web/compose.yaml", envFilePath="")
    sync_refused(CANARY, api, stack, ".env file 'apps/web/.env' points outside the repository")


def test_a_dotenv_symlink_loop_is_refused(api: Any, git_server: Any, make_stack: Any) -> None:
    repo = _monorepo(git_server, "dotenv-loop")
    os.symlink(".env", repo.work / "apps/web/.env")
    repo.commit({}, ".env links to itself")
    stack = make_stack(repo, composePath="apps/web/compose.yaml", envFilePath="")
    sync_refused(CANARY, api, stack, ".env file 'apps/web/.env' cannot be resolved (a symlink loop?)")


def test_an_oversized_dotenv_is_refused(api: Any, git_server: Any, make_stack: Any) -> None:
    repo = _monorepo(git_server, "dotenv-big", "A=" + "x" * (1024 * 1024) + "\n")
    stack = make_stack(repo, composePath="apps/web/compose.yaml", envFilePath="")
    sync_refused(CANARY, api, stack, ".env file 'apps/web/.env' is larger than 1048576 bytes")
