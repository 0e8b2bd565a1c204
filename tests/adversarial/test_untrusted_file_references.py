"""Files compose (or the builder it drives) reads that the resolved model no longer shows:
`label_file` (folded into labels), a `~/` path (compose expands it to the server's home
folder), a dockerfile and additional build contexts. Each is checked in the raw files
before compose runs: a failed sync naming the problem, the server file's value
nowhere, and no container started."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from stacks import compose
from tests.support import docker as dockersupport
from tests.support.refusals import sync_refused

pytestmark = pytest.mark.django_db

CANARY = "CANARY-reference-key-material-8e0c"


@pytest.fixture
def server_folder(tmp_path: Path) -> Path:
    """A folder of the server a repository must not read from."""
    folder = tmp_path / "server"
    folder.mkdir()
    (folder / "x.env").write_text(f"FROM_REPO={CANARY}\n")
    return folder


def _stack(git_server: Any, make_stack: Any, name: str, files: dict[str, str]) -> dict[str, Any]:
    repo = git_server.create_repo(f"{name}-{uuid.uuid4().hex[:8]}", files)
    return dict(make_stack(repo, envFilePath=""))


def _service(extra: str) -> str:
    return (
        f"services:\n  app:\n    image: {dockersupport.IMAGE}\n    pull_policy: never\n"
        f"    command: ['sleep', '3600']\n{extra}"
    )


def test_a_label_file_outside_the_checkout_is_refused(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, server_folder: Path
) -> None:
    stack = _stack(
        git_server, make_stack, "label-file", {"compose.yaml": _service(f"    label_file: {server_folder}/x.env\n")}
    )
    sync_refused(CANARY, api, stack, f"service app label_file '{server_folder}/x.env' points outside the repository")


def test_a_path_in_the_servers_home_folder_is_refused(
    api: Any,
    git_server: Any,
    make_stack: Any,
    docker_image: str,
    server_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose.compose_command()  # found with the real home folder
    monkeypatch.setenv("DOCKER_CONFIG", str(Path.home() / ".docker"))
    monkeypatch.setenv("HOME", str(server_folder))
    stack = _stack(git_server, make_stack, "home-file", {"compose.yaml": _service("    env_file: ~/x.env\n")})
    sync_refused(CANARY, api, stack, "service app env_file '~/x.env' uses the home folder")


BUILD_CASES = {
    "cache-to-a-server-folder": (
        "    build:\n      context: .\n      cache_to: ['type=local,dest={server}/cache']\n",
        "cache_to 'type=local,dest={server}/cache': local build caches are not supported",
    ),
    "cache-from-a-server-folder": (
        "    build:\n      context: .\n      cache_from: ['type=local,src={server}']\n",
        "cache_from 'type=local,src={server}': local build caches are not supported",
    ),
    "dockerfile": ("    build:\n      context: .\n      dockerfile: {server}/x.env\n", "dockerfile '{server}/x.env'"),
    "additional-context": (
        "    build:\n      context: .\n      additional_contexts:\n        outside: {server}\n",
        "additional context outside '{server}'",
    ),
}


@pytest.mark.parametrize("case", BUILD_CASES)
def test_build_inputs_outside_the_checkout_are_refused(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, server_folder: Path, case: str
) -> None:
    extra, says = (text.format(server=server_folder) for text in BUILD_CASES[case])
    dockerfile = f"FROM {dockersupport.IMAGE}\nRUN --mount=from=outside,target=/o cat /o/x.env && false\n"
    service = f"services:\n  app:\n    pull_policy: build\n    command: ['sleep', '3600']\n{extra}"
    stack = _stack(git_server, make_stack, f"build-{case}", {"compose.yaml": service, "Dockerfile": dockerfile})
    said = f"service app build {says}" + ("" if "caches" in says else " points outside the repository")
    sync_refused(CANARY, api, stack, said)
    assert not (server_folder / "cache").exists()  # nothing written to the server either
