"""Create-time checks: the remote is asked whether a stack's URL, credential, branch and
files are there (stacks/services/source.py), against the real git server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from gitsync import git
from gitsync.models import Credential
from stacks.services.source import StackSource, stack_source_check
from tests.conftest import GIT_TOKEN, GIT_USER, compose_file
from tests.support.gitserver import GitServer, TestRepo

pytestmark = pytest.mark.django_db

NOWHERE = "http://127.0.0.1:9/app.git"  # the discard port: nothing listens


@pytest.fixture
def credential(git_server: GitServer) -> Credential:
    return Credential.objects.create(
        name="ci-token", auth_type="token", username=GIT_USER, token=GIT_TOKEN, url_prefixes=[git_server.prefix]
    )


@pytest.fixture
def layout_repo(git_server: GitServer) -> TestRepo:
    """Compose files in subfolders and none at the root, on main and two more branches."""
    repo = git_server.create_repo(
        f"layout-{uuid.uuid4().hex[:8]}",
        {
            "deploy/compose.yml": compose_file(),
            "docker-compose.yaml": compose_file(),
            "services/api/compose.prod.yaml": compose_file(),
            "deploy/prod.env": "A=1\n",
            ".env.example": "A=\n",
            "README.md": "x\n",
        },
    )
    for branch in ("develop", "release/2"):
        git_branch(repo, branch)
    return repo


def git_branch(repo: TestRepo, name: str) -> None:
    from tests.support.gitserver import git as run_git

    run_git("push", "-q", "origin", f"HEAD:refs/heads/{name}", cwd=repo.work)


def check(repo_url: str, credential: Credential | None, **given: Any) -> Any:
    source = StackSource(
        url=repo_url,
        credential=credential,
        branch=given.pop("branch", "main"),
        compose_path=given.pop("compose_path", "compose.yaml"),
        **given,
    )
    return stack_source_check(source=source)


def test_a_stack_whose_files_are_there_passes_with_what_the_remote_has(
    app_repo: TestRepo, credential: Credential
) -> None:
    report = check(app_repo.url, credential, env_file_path=".env")
    assert report.problems == {}
    assert report.branches == ("main",) and report.default_branch == "main"
    assert report.head == app_repo.head()
    assert report.compose_files == ("compose.yaml",) and report.env_files == (".env",)


def test_a_remote_that_does_not_answer_is_named_under_url(credential: Credential) -> None:
    report = check(NOWHERE, None)
    assert report.problems["url"].startswith("the remote did not answer: ")
    assert "127.0.0.1" in report.problems["url"] and list(report.problems) == ["url"]


def test_a_path_with_no_repository_says_so(git_server: GitServer, credential: Credential) -> None:
    report = check(git_server.url("no-such-repo"), credential)
    assert report.problems == {
        "url": f"no git repository at {git_server.url('no-such-repo')}"
        " (a private one needs a credential that may read it)"
    }


def test_a_wrong_credential_is_refused_without_showing_its_secret(app_repo: TestRepo, git_server: GitServer) -> None:
    wrong = Credential.objects.create(
        name="stale", auth_type="token", username=GIT_USER, token="wrong-Token-31", url_prefixes=[git_server.prefix]
    )
    report = check(app_repo.url, wrong)
    assert report.problems["url"].startswith("authentication failed with credential 'stale': ")
    assert "wrong-Token-31" not in report.problems["url"]
    none = check(app_repo.url, None)
    assert none.problems == {"url": f"authentication failed: {app_repo.url} needs a credential (none was chosen)"}


def test_a_credential_limited_to_other_environments_is_named(app_repo: TestRepo, credential: Credential) -> None:
    from stacks.models import Environment

    edge = Environment.objects.create(name="edge")
    credential.environment_ids = [edge.pk + 1000]
    credential.save()
    source = StackSource(url=app_repo.url, credential=credential, branch="main", compose_path="compose.yaml")
    report = stack_source_check(source=source, environment=edge)
    assert "may not be used in environment 'edge'" in report.problems["credentialId"]


def test_a_wrong_branch_is_refused_with_the_branches_there_default_first(
    layout_repo: TestRepo, credential: Credential
) -> None:
    report = check(layout_repo.url, credential, branch="mian", compose_path="deploy/compose.yml")
    assert report.problems == {"branch": "no branch 'mian'; the remote has: main, develop, release/2"}
    assert report.branches == ("main", "develop", "release/2") and report.head == ""


def test_a_long_branch_list_names_twenty_and_counts_the_rest(app_repo: TestRepo, credential: Credential) -> None:
    for index in range(25):
        git_branch(app_repo, f"feature/{index:02d}")
    report = check(app_repo.url, credential, branch="nope")
    named = report.problems["branch"].removeprefix("no branch 'nope'; the remote has: ")
    assert named.startswith("main, feature/00, feature/01") and named.endswith("feature/18 and 6 more")


def test_a_wrong_compose_path_lists_the_compose_files_found_in_subfolders(
    layout_repo: TestRepo, credential: Credential
) -> None:
    report = check(layout_repo.url, credential, env_file_path=".env")
    assert report.problems == {
        "composePath": "no compose.yaml at the root of main; compose files found:"
        " docker-compose.yaml, deploy/compose.yml, services/api/compose.prod.yaml",
        "envFilePath": "no .env at the root of main; env files found: .env.example, deploy/prod.env",
    }
    nested = check(layout_repo.url, credential, compose_path="deploy/compose.yaml")
    assert nested.problems["composePath"].startswith("no deploy/compose.yaml in main; compose files found: ")


def test_files_in_subfolders_pass_and_additional_files_are_checked(
    layout_repo: TestRepo, credential: Credential
) -> None:
    good = check(layout_repo.url, credential, branch="develop", compose_path="deploy/compose.yml")
    assert good.problems == {}
    report = check(
        layout_repo.url,
        credential,
        compose_path="./deploy/compose.yml",
        env_file_path="deploy/prod.env",
        additional_compose_files=("services/api/compose.prod.yaml", "compose.override.yaml"),
    )
    assert report.problems == {
        "additionalComposeFiles": "no compose.override.yaml at the root of main; compose files found:"
        " docker-compose.yaml, deploy/compose.yml, services/api/compose.prod.yaml"
    }


def test_a_branch_with_no_compose_file_says_so(git_server: GitServer, credential: Credential) -> None:
    repo = git_server.create_repo(f"empty-{uuid.uuid4().hex[:8]}", {"README.md": "x\n"})
    report = check(repo.url, credential)
    assert report.problems == {"composePath": "no compose.yaml at the root of main; main has no compose files"}


def test_the_listing_leaves_nothing_behind_and_gives_up_past_its_size_bound(
    git_server: GitServer, credential: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_server.create_repo(
        f"big-{uuid.uuid4().hex[:8]}", {"compose.yaml": compose_file(), "blob.bin": os.urandom(3_000_000).hex()}
    )
    assert check(repo.url, credential).problems == {}
    monkeypatch.setattr(git, "LISTING_MAX_BYTES", 1_000_000)  # the test server sends contents too
    report = check(repo.url, credential, compose_path="nowhere.yaml")
    assert report.problems == {} and report.head == repo.head()
    assert "to list: the paths are checked at the first sync" in report.note
    run_dir = Path(settings.RUN_DIR)
    assert [p.name for p in run_dir.iterdir()] == [], "scratch repositories and key files are removed"


def test_over_ssh_an_unsaved_key_lists_branches_and_files_and_keeps_no_host_key(
    tmp_path: Path, layout_repo: TestRepo, git_server: GitServer
) -> None:
    from tests.conftest import need
    from tests.support import sshserver

    need("openssh-server", sshserver.available())
    (tmp_path / "sshd").mkdir()
    sshd = sshserver.SshServer(tmp_path / "sshd")
    try:
        private, public = sshserver.keygen(tmp_path / "client")
        sshd.authorize(public)
        url = sshd.url(git_server.root / Path(layout_repo.url).name)
        # As the stack form makes it inline: not saved yet, no known host key given.
        key = Credential(
            name="deploy-key", auth_type="ssh", ssh_private_key=private, url_prefixes=[sshd.url(Path("/"))]
        )
        report = check(url, key, branch="develop", compose_path="compose.yaml")
        assert report.branches == ("main", "develop", "release/2")
        assert report.problems["composePath"].startswith("no compose.yaml at the root of develop; compose files found:")
        assert [p.name for p in Path(settings.RUN_DIR).iterdir()] == []
        assert not (Path(settings.DATA_DIR) / "known_hosts").exists()
    finally:
        sshd.stop()
