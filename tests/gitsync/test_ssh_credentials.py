"""SSH credentials against a real sshd: a 0600 key per run, host keys checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import container_name, need
from tests.support import sshserver
from tests.support.gitserver import GitServer, TestRepo

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshserver.SshServer]:
    need("openssh-server", sshserver.available())
    server = sshserver.SshServer(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def ssh_key(tmp_path: Path, sshd: sshserver.SshServer) -> str:
    private, public = sshserver.keygen(tmp_path / "client")
    sshd.authorize(public)
    return private


def _ssh_stack(
    api: Any,
    make_stack: Any,
    sshd: Any,
    repo: TestRepo,
    git_server: GitServer,
    credential: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    bare = git_server.root / Path(repo.url).name
    repo.url = sshd.url(bare)
    return dict(make_stack(repo, credentialId=credential["id"], **extra))


def _credential(api: Any, sshd: Any, **fields: Any) -> dict[str, Any]:
    body = {
        "name": f"ssh-{len(fields)}-{id(fields)}",
        "authType": "ssh",
        "urlPrefixes": [sshd.url(Path("/"))],
        **fields,
    }
    response = api.post("/api/git/credentials", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_an_ssh_key_with_its_host_key_deploys_and_leaves_no_key_on_disk(
    api: Any, make_stack: Any, sshd: Any, app_repo: TestRepo, git_server: GitServer, ssh_key: str, docker_image: str
) -> None:
    cred = _credential(api, sshd, sshPrivateKey=ssh_key, sshKnownHosts=sshd.host_key_line)
    stack = _ssh_stack(api, make_stack, sshd, app_repo, git_server, cred)
    response = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["deployed"] is True
    assert container_name(stack)
    key_body = re.sub(r"-----[^-]+-----|\s", "", ssh_key)[:40]
    for path in Path(settings.DATA_DIR).rglob("*"):
        if path.is_file():
            assert key_body.encode() not in path.read_bytes(), f"key material left in {path}"
    assert "PRIVATE KEY" not in api.get("/api/git/credentials").content.decode()


def test_a_host_key_that_does_not_match_is_refused(
    api: Any, make_stack: Any, sshd: Any, app_repo: TestRepo, git_server: GitServer, ssh_key: str, tmp_path: Path
) -> None:
    _, other_host = sshserver.keygen(tmp_path / "impostor")
    wrong_line = f"[127.0.0.1]:{sshd.port} {' '.join(other_host.split()[:2])}"
    cred = _credential(api, sshd, sshPrivateKey=ssh_key, sshKnownHosts=wrong_line)
    # (Saved unchecked: the create-time check would already refuse it.)
    stack = _ssh_stack(api, make_stack, sshd, app_repo, git_server, cred, skipSourceCheck=True)
    response = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert response.status_code == 500
    assert "Host key verification failed" in response.json()["error"]


def test_a_passphrase_protected_key_works(
    api: Any, make_stack: Any, sshd: Any, app_repo: TestRepo, git_server: GitServer, tmp_path: Path, docker_image: str
) -> None:
    passphrase = "correct-Horse-battery-77"
    private, public = sshserver.keygen(tmp_path / "locked", passphrase)
    sshd.authorize(public)
    cred = _credential(api, sshd, sshPrivateKey=private, sshPassphrase=passphrase, sshKnownHosts=sshd.host_key_line)
    stack = _ssh_stack(api, make_stack, sshd, app_repo, git_server, cred)
    response = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert response.status_code == 200, response.content
    assert passphrase not in response.content.decode()


def test_without_known_hosts_the_first_host_key_is_pinned(
    api: Any, make_stack: Any, sshd: Any, app_repo: TestRepo, git_server: GitServer, ssh_key: str, docker_image: str
) -> None:
    cred = _credential(api, sshd, sshPrivateKey=ssh_key)
    stack = _ssh_stack(api, make_stack, sshd, app_repo, git_server, cred)
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").status_code == 200
    learned = Path(settings.DATA_DIR) / "known_hosts" / f"credential-{cred['id']}"
    assert f"[127.0.0.1]:{sshd.port}" in learned.read_text()
    # The server's key "changes": the pinned one no longer matches and the sync fails.
    learned.write_text(
        learned.read_text().replace(
            learned.read_text().split()[2], "AAAAC3NzaC1lZDI1NTE5AAAAIBadKeyBadKeyBadKeyBadKeyBadKeyBadKeyBadKey1"
        )
    )
    response = api.post(f"/api/git/stacks/{stack['id']}/sync", {"force": True}, format="json")
    assert response.status_code == 500
    assert "Host key verification failed" in response.json()["error"]
