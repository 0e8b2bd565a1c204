"""git.head_file: one file at a branch head, from the bounded shallow clone without
contents, fetching only that blob (where the server filters) and leaving nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from gitsync import git
from tests.conftest import GIT_TOKEN, GIT_USER
from tests.support.gitserver import GitServer
from tests.support.gitserver import git as run_git

AUTH = git.GitAuth(username=GIT_USER, secret=GIT_TOKEN, secrets=(GIT_TOKEN,))


@pytest.mark.parametrize("filtering", [True, False])
def test_it_reads_one_file_and_lists_the_rest(git_server: GitServer, filtering: bool, tmp_path: Path) -> None:
    repo = git_server.create_repo(
        f"head-file-{filtering}",
        {".dockhand.yaml": "stacks: []\n", "big.bin": "x" * 200_000, "a/compose.yaml": "services: {}\n"},
    )
    run_git(
        "config",
        "uploadpack.allowFilter",
        "true" if filtering else "false",
        cwd=git_server.root / f"head-file-{filtering}.git",
    )

    found = git.head_file(url=repo.url, branch="main", path=".dockhand.yaml", auth=AUTH)

    assert (found.commit, found.text) == (repo.head(), "stacks: []\n")
    assert sorted(found.files) == [".dockhand.yaml", "a/compose.yaml", "big.bin"]
    assert not any(settings.RUN_DIR.iterdir())  # the scratch clone is gone


def test_a_missing_file_is_none_and_a_big_one_is_refused(git_server: GitServer) -> None:
    repo = git_server.create_repo("head-file-big", {"compose.yaml": "services: {}\n", ".dockhand.yaml": "#" * 300_000})

    assert git.head_file(url=repo.url, branch="main", path="nope.yaml", auth=AUTH).text is None
    with pytest.raises(git.GitError, match="at most 262144 are read"):
        git.head_file(url=repo.url, branch="main", path=".dockhand.yaml", auth=AUTH)
    with pytest.raises(git.BranchMissing):
        git.head_file(url=repo.url, branch="gone", path=".dockhand.yaml", auth=AUTH)
