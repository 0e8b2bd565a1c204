"""Repository contents are untrusted: a compose project cannot read the server's files,
see dockhand's environment or blow up the parser (what it may ask of the engine under
each policy: test_policy_levels.py). Every case: a failed sync naming the problem, and no
container started."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport
from tests.support.refusals import sync_refused

pytestmark = pytest.mark.django_db

# One per test process: parallel workers must not remove each other's file.
CANARY_FILE = f"/tmp/dockhand-canary-{os.getpid()}-id_rsa"
CANARY = "CANARY-private-key-material-6b1e"


@pytest.fixture(autouse=True)
def _canary_file() -> Any:
    with open(CANARY_FILE, "w") as fh:
        fh.write(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n-----END OPENSSH PRIVATE KEY-----\n")
    yield
    os.unlink(CANARY_FILE)


def _service(extra: str, image: str = dockersupport.IMAGE) -> str:
    return f"services:\n  app:\n    image: {image}\n    pull_policy: never\n    command: ['sleep', '3600']\n{extra}"


# CVE class: a symlinked compose file reading the server's private key.
def test_a_compose_file_symlinked_to_a_server_file_is_refused(api: Any, git_server: Any, make_stack: Any) -> None:
    repo = git_server.create_repo("symlink-compose", {"README.md": "x\n"})
    os.symlink(CANARY_FILE, repo.work / "compose.yaml")
    repo.commit({}, "compose file is a symlink to a key")
    sync_refused(CANARY, api, make_stack(repo, envFilePath=""), "points outside the repository")


def test_a_compose_file_behind_a_symlinked_folder_is_refused(api: Any, git_server: Any, make_stack: Any) -> None:
    repo = git_server.create_repo("symlink-dir", {"README.md": "x\n"})
    os.symlink("/tmp", repo.work / "deploy")
    repo.commit({}, "folder symlink")
    sync_refused(
        CANARY,
        api,
        # Saved unchecked: the path is no file of the branch, and the deploy must refuse it too.
        make_stack(repo, envFilePath="", composePath=f"deploy/{os.path.basename(CANARY_FILE)}", skipSourceCheck=True),
        "points outside the repository",
    )


def test_an_env_file_symlinked_out_is_refused(api: Any, git_server: Any, make_stack: Any) -> None:
    repo = git_server.create_repo("symlink-env", {"compose.yaml": compose_file()})
    os.symlink(CANARY_FILE, repo.work / ".env")
    repo.commit({}, "env symlink")
    sync_refused(CANARY, api, make_stack(repo, envFilePath=".env"), "envFilePath '.env' points outside the repository")


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("    env_file: /proc/self/environ\n", "service app env_file '/proc/self/environ' points outside"),
        (f"    env_file: [{CANARY_FILE}]\n", "points outside the repository"),
        ("    env_file:\n      - path: ../../../../etc/passwd\n", "points outside the repository"),
        ("    env_file: ${HOME}/.env\n", "uses a variable"),
        ("    build: /etc\n", None),
        (
            "    extends:\n      file: /etc/dockhand-nothing.yaml\n      service: x\n",
            "extends.file '/etc/dockhand-nothing.yaml' points outside",
        ),
    ],
    ids=["proc-environ", "key-file", "dotdot", "variable", "build-context", "extends"],
)
def test_service_file_references_leaving_the_repository_are_refused(
    api: Any, git_server: Any, make_stack: Any, extra: str, says: str | None
) -> None:
    repo = git_server.create_repo(f"ref-{abs(hash(extra)) % 10**8}", {"compose.yaml": _service(extra)})
    sync_refused(
        CANARY, api, make_stack(repo, envFilePath=""), says or "build context '/etc' points outside the repository"
    )


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (f"include:\n  - {CANARY_FILE}\n", f"include '{CANARY_FILE}' points outside"),
        ("include:\n  - path: ../outside.yaml\n", "include '../outside.yaml' points outside"),
        (f"secrets:\n  key:\n    file: {CANARY_FILE}\n", "secret key file"),
        (f"configs:\n  cfg:\n    file: {CANARY_FILE}\n", "config cfg file"),
    ],
    ids=["include", "include-dotdot", "secrets-file", "configs-file"],
)
def test_top_level_references_leaving_the_repository_are_refused(
    api: Any, git_server: Any, make_stack: Any, document: str, says: str
) -> None:
    repo = git_server.create_repo(f"top-{abs(hash(document)) % 10**8}", {"compose.yaml": _service("") + document})
    sync_refused(CANARY, api, make_stack(repo, envFilePath=""), says)


def test_an_included_file_that_reaches_out_is_refused_too(api: Any, git_server: Any, make_stack: Any) -> None:
    nested = f"services:\n  side:\n    image: x\n    env_file: {CANARY_FILE}\n"
    repo = git_server.create_repo(
        "nested", {"compose.yaml": _service("") + "include:\n  - more/side.yaml\n", "more/side.yaml": nested}
    )
    sync_refused(CANARY, api, make_stack(repo, envFilePath=""), "service side env_file")


def test_dockhands_own_environment_is_invisible_to_interpolation(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKHAND_SECRET_KEY", "server-secret-key-CANARY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-aws-CANARY")
    leak = "    environment:\n      A: ${DOCKHAND_SECRET_KEY:-empty}\n      B: ${AWS_SECRET_ACCESS_KEY:-empty}\n"
    repo = git_server.create_repo("leak-env", {"compose.yaml": _service(leak, docker_image)})
    stack = make_stack(repo, envFilePath="")
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    env = dockersupport.container_env(container_name(stack))
    assert (env["A"], env["B"]) == ("empty", "empty")


def test_a_yaml_bomb_is_refused_quickly(api: Any, git_server: Any, make_stack: Any) -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for level in range(1, 12):
        bomb += f"l{level}: &l{level} [" + ",".join([f"*{'a' if level == 1 else 'l' + str(level - 1)}"] * 9) + "]\n"
    repo = git_server.create_repo("bomb", {"compose.yaml": bomb})
    import time

    started = time.monotonic()
    sync_refused(CANARY, api, make_stack(repo, envFilePath=""), "(a YAML bomb?)")
    assert time.monotonic() - started < 10


def test_an_oversized_compose_file_is_refused(api: Any, git_server: Any, make_stack: Any) -> None:
    repo = git_server.create_repo("huge", {"compose.yaml": _service("") + "# " + "x" * (1024 * 1024 + 10) + "\n"})
    sync_refused(CANARY, api, make_stack(repo, envFilePath=""), "is larger than 1048576 bytes")
