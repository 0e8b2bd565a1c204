"""Files an included project or a second compose file makes compose read are repository
content too, resolved where compose resolves them: an include's own `.env` in its project
folder, an include's `project_directory` and `env_file`, and the relative paths of every
`-f` file (against the project folder, not the file's own). Each case: a server file a
hostile repository tries to read, a failed sync naming the problem, the server file's
value nowhere, and no container started."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.support import docker as dockersupport
from tests.support.refusals import sync_refused

pytestmark = pytest.mark.django_db

CANARY = "CANARY-include-key-material-5d2a"


@pytest.fixture
def server_folder(tmp_path: Path) -> Path:
    """A folder of the server a repository must not read from (a dotenv in it)."""
    folder = tmp_path / "server"
    folder.mkdir()
    (folder / "x.env").write_text(f"FROM_REPO={CANARY}\n")
    (folder / ".env").write_text(f"FROM_REPO={CANARY}\n")
    return folder


def _service(name: str, extra: str = "") -> str:
    return (
        f"  {name}:\n    image: {dockersupport.IMAGE}\n    pull_policy: never\n    command: ['sleep', '3600']\n"
        f"    environment:\n      LEAKED: ${{FROM_REPO:-unset}}\n{extra}"
    )


def _repo(git_server: Any, name: str, files: dict[str, str]) -> Any:
    return git_server.create_repo(f"{name}-{uuid.uuid4().hex[:8]}", files)


# (a) compose reads an included project's own `.env`, like the main project's.
def test_an_included_projects_dotenv_linked_out_of_the_checkout_is_refused(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, server_folder: Path
) -> None:
    repo = _repo(
        git_server,
        "include-dotenv",
        {
            "compose.yaml": "include:\n  - more/compose.yaml\nservices:\n" + _service("app"),
            "more/compose.yaml": "services:\n" + _service("side"),
        },
    )
    os.symlink(server_folder / "x.env", repo.work / "more/.env")
    repo.commit({}, "the included project's .env is a link to a server file")
    sync_refused(CANARY, api, make_stack(repo, envFilePath=""), ".env file 'more/.env' points outside the repository")


# (b) an include's project_directory is where its relative paths and its `.env` are read.
def test_an_include_with_a_project_directory_outside_the_checkout_is_refused(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, server_folder: Path
) -> None:
    include = f"include:\n  - path: more/compose.yaml\n    project_directory: {server_folder}\n"
    repo = _repo(
        git_server,
        "include-projdir",
        {
            "compose.yaml": include + "services:\n" + _service("app"),
            "more/compose.yaml": "services:\n" + _service("side", "    env_file: [x.env]\n"),
            "more/x.env": "FROM_REPO=harmless\n",
        },
    )
    sync_refused(
        CANARY,
        api,
        make_stack(repo, envFilePath=""),
        f"include project_directory '{server_folder}' points outside the repository",
    )


# (b) inside an included file, compose resolves an include's env_file against a folder
# relative to its own current directory: the server's, not the repository's.
def test_an_include_env_file_inside_an_included_file_is_refused(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, server_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(server_folder)  # dockhand started where a .env of its own lies
    repo = _repo(
        git_server,
        "include-nested-env",
        {
            "compose.yaml": "include:\n  - inner.yaml\nservices:\n" + _service("app"),
            "inner.yaml": "include:\n  - path: side.yaml\n    env_file: [.env]\n",
            "side.yaml": "services:\n" + _service("side"),
            ".env": "FROM_REPO=harmless\n",
        },
    )
    sync_refused(CANARY, api, make_stack(repo, envFilePath=""), "include env_file '.env' in inner.yaml")


# (c) compose resolves a second -f file's relative paths against the project folder.
def test_a_second_compose_file_is_checked_against_the_project_folder(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    settings.STACKS_DIR.mkdir(parents=True, exist_ok=True)
    (settings.STACKS_DIR / "x.env").write_text(f"FROM_REPO={CANARY}\n")  # beside other stacks' checkouts
    repo = _repo(
        git_server,
        "second-file",
        {
            "compose.yaml": "services:\n" + _service("app"),
            "a/b/more.yaml": "services:\n  app:\n    env_file: [../../x.env]\n",
            "x.env": "FROM_REPO=harmless\n",
        },
    )
    stack = make_stack(repo, envFilePath="", additionalComposeFiles=["a/b/more.yaml"])
    sync_refused(CANARY, api, stack, "service app env_file '../../x.env' points outside the repository")


# Compose takes an included file's folder as spelled (`link/`), not where the link leads.
def test_an_include_through_a_linked_folder_is_checked_where_compose_reads(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    repo = _repo(
        git_server,
        "include-link",
        {
            "compose.yaml": "include:\n  - link/compose.yaml\nservices:\n" + _service("app"),
            "deep/dir/compose.yaml": "services:\n" + _service("side", "    env_file: [../../x.env]\n"),
            "x.env": "FROM_REPO=harmless\n",
        },
    )
    os.symlink("deep/dir", repo.work / "link")
    repo.commit({}, "a linked folder")
    stack = make_stack(repo, envFilePath="")
    checkout = settings.STACKS_DIR / str(stack["id"]) / "repo"
    checkout.parent.mkdir(parents=True, exist_ok=True)
    (checkout.parent / "x.env").write_text(f"FROM_REPO={CANARY}\n")  # where link/../../x.env leads
    sync_refused(CANARY, api, stack, "service side env_file '../../x.env' points outside the repository")


# The diff preview renders the branch head from a temporary tree, but compose then reads
# what it includes from the working copy, which a refused sync left as the hostile
# commit put it.
def test_the_diff_preview_checks_the_working_copy_compose_reads(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, server_folder: Path
) -> None:
    repo = _repo(
        git_server,
        "diff-working-copy",
        {
            "compose.yaml": "include:\n  - more/compose.yaml\nservices:\n" + _service("app"),
            "more/compose.yaml": "services:\n" + _service("side", "    ports: ['${FROM_REPO:-8080}']\n"),
        },
    )
    os.symlink(server_folder / "x.env", repo.work / "more/.env")
    repo.commit({}, "the included project's .env is a link to a server file")
    stack = make_stack(repo, envFilePath="")
    sync_refused(CANARY, api, stack, ".env file 'more/.env' points outside the repository")
    repo.commit({"more/.env": None}, "nothing to see here")

    response = api.get(f"/api/git/stacks/{stack['id']}/diff")
    assert response.status_code == 200, response.content
    assert CANARY not in response.content.decode()
    assert ".env file 'more/.env' points outside the repository" in response.json()["servicesError"]
