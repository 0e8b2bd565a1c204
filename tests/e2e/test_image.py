"""dockhand as its users run it: the image built from the Dockerfile, `docker compose up
-d` of compose.yaml, a stack with a relative bind mount deployed through the
container's API, and the data still there after the container is recreated."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from tests.support import docker as dockersupport
from tests.support.gitserver import start_git_server
from tests.support.image import TAG, bridge_gateway, build_image, composed_dockhand
from tests.support.product import ApiClient

pytestmark = pytest.mark.e2e

GIT_USER, GIT_TOKEN = "imager", "image-git-token"
PASSWORD = "image-admin-password"
MAX_IMAGE_BYTES = 400 * 1000 * 1000
# Each process of the container: its uid, its groups and its command line.
LIST_PROCESSES = """
import pathlib
for proc in pathlib.Path("/proc").glob("[0-9]*"):
    try:
        status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines())
        args = (proc / "cmdline").read_bytes().replace(b"\\0", b" ").decode()
    except OSError:
        continue
    print(status["Uid"].split()[0], "groups=" + ",".join(status["Groups"].split()), args)
"""


def test_the_image_is_small_and_has_no_compiler() -> None:
    build_image()
    size = int(
        subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Size}}", TAG], capture_output=True, text=True, check=True
        ).stdout
    )
    assert size < MAX_IMAGE_BYTES, f"{TAG} is {size / 1e6:.0f} MB"
    probe = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            TAG,
            "-c",
            "command -v gcc cc pip; ls /run/secrets 2>/dev/null; docker-compose version --short; git --version; ssh -V",
        ],
        capture_output=True,
        text=True,
    )
    assert "gcc" not in probe.stdout and "/cc" not in probe.stdout and "pip" not in probe.stdout, probe.stdout
    assert "ca" not in probe.stdout.split(), "the build's CA secret is in the image"
    assert "git version" in probe.stdout and "OpenSSH" in probe.stderr, probe.stdout + probe.stderr


def _certificates(pem: str) -> set[str]:
    return set(re.findall(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END", pem, re.S))


def test_the_build_ca_is_in_no_layer() -> None:
    """The machine's own CAs (a TLS-inspecting network's, handed to pip as a BuildKit
    secret) are in none of the image's layers, only in Debian's bundle they are not."""
    build_image()
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.exists():
        return  # nothing was handed in
    shipped = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "cat", TAG, str(bundle)], capture_output=True, text=True, check=True
    ).stdout
    own = _certificates(bundle.read_text()) - _certificates(shipped)
    if not own:
        return  # this machine trusts only what Debian ships
    lines = [cert.splitlines()[3].encode() for cert in own]
    with subprocess.Popen(["docker", "save", TAG], stdout=subprocess.PIPE) as save:
        assert save.stdout is not None
        tail = b""
        while chunk := save.stdout.read(1 << 20):
            window = tail + chunk
            assert not any(line in window for line in lines), "a layer holds the build's CA"
            tail = chunk[-128:]


def test_compose_up_deploys_a_relative_bind_mount_and_keeps_its_data(tmp_path: Path) -> None:
    build_image()
    # The container reaches the test's git server on the host's bridge address.
    git_server = start_git_server(tmp_path / "git", GIT_USER, GIT_TOKEN, host=bridge_gateway())
    marker = f"served from the host {uuid.uuid4().hex}"
    image = dockersupport.ensure_image()
    repo = git_server.create_repo(
        "site",
        {
            "compose.yaml": (
                f"services:\n  web:\n    image: {image}\n    pull_policy: never\n    command: sleep 600\n"
                "    stop_grace_period: 1s\n    volumes:\n      - ./site:/site:ro\n"
            ),
            "site/index.html": marker + "\n",
        },
    )
    project = ""
    try:
        with composed_dockhand(tmp_path, PASSWORD) as app:
            app.wait_healthy(120)
            # Not root: the product runs as the image's user, with the socket's group.
            processes = subprocess.run(
                ["docker", "exec", app.container(), "python3", "-c", LIST_PROCESSES],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            serving = [line for line in processes.splitlines() if "manage.py" in line or "dockhand.prefork" in line]
            assert serving and all(line.split()[0] == "999" for line in serving), processes
            # …in the socket's group, whatever its gid is on this host.
            socket_gid = str(os.stat("/var/run/docker.sock").st_gid)
            assert all(socket_gid in line.split()[1].removeprefix("groups=").split(",") for line in serving), processes

            # The contract and its docs page, with the sidecar's files, from the image.
            docs = requests.get(f"{app.url}/api/docs", timeout=10)
            assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
            bundle = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', docs.text)
            assert bundle and requests.get(app.url + bundle.group(1), timeout=10).status_code == 200
            assert requests.get(f"{app.url}/api/schema", timeout=10).json()["openapi"].startswith("3.")

            admin = ApiClient(app.url, "admin", PASSWORD)
            credential = admin.post(
                "/api/git/credentials",
                {
                    "name": "site",
                    "authType": "token",
                    "username": GIT_USER,
                    "token": GIT_TOKEN,
                    "urlPrefixes": [git_server.prefix],
                    "allowPlainHttp": True,  # the bridge address is no loopback
                },
            )
            assert credential.status_code == 201, credential.text
            repository = admin.post("/api/git/repositories", {"url": repo.url, "credentialId": credential.json()["id"]})
            assert repository.status_code == 201, repository.text
            stack = admin.post(
                "/api/git/stacks",
                {"stackName": f"img-{uuid.uuid4().hex[:8]}", "url": repo.url, "credentialId": credential.json()["id"]},
            )
            assert stack.status_code == 201, stack.text
            project = stack.json()["projectName"]
            synced = admin.post(f"/api/git/stacks/{stack.json()['id']}/sync")
            assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.text

            # The engine resolved ./site on the host, at the data dir's own path.
            web = dockersupport.containers(project)[0]["Names"]
            served = subprocess.run(["docker", "exec", web, "cat", "/site/index.html"], capture_output=True, text=True)
            assert served.stdout.strip() == marker, served.stderr
            assert str(app.data_dir) in served_mount(web)

            assert app.docker_health(90) == "healthy", app.logs()

            # A new container (an upgrade does the same) finds everything in the data dir.
            app.compose("down", "--timeout", "20")
            app.compose("up", "-d", "--no-build")
            app.wait_healthy(120)
            again = ApiClient(app.url, "admin", PASSWORD)
            stacks = again.get("/api/git/stacks").json()
            assert [s["projectName"] for s in stacks] == [project]
            assert stacks[0]["lastCommit"] == repo.head()
    finally:
        if project:
            dockersupport.remove_project(project)
        git_server.stop()


def served_mount(container: str) -> str:
    """Where the engine took the stack's ./site from."""
    return subprocess.run(
        ["docker", "inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
