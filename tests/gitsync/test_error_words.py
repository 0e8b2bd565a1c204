"""What git said, told apart by its words, not by numbers anywhere in the message."""

from __future__ import annotations

import git as gitpython

from gitsync import git


def _said(stderr: str) -> git.GitError:
    return git._error(gitpython.GitCommandError(["git", "ls-remote"], 128, stderr), None, "Failed", "url")


def test_a_missing_repository_on_a_port_holding_403_is_not_a_refused_credential() -> None:
    said = _said("fatal: repository 'http://127.0.0.1:34037/no-such-repo.git/' not found")
    assert isinstance(said, git.RepositoryMissing), said


def test_http_401_and_403_are_refused_credentials() -> None:
    for status in (401, 403):
        said = _said(f"fatal: unable to access 'http://h/r.git/': The requested URL returned error: {status}")
        assert isinstance(said, git.AuthFailed), said
