"""dockhand's own image and compose.yaml in tests: the image built once per run (kept
between runs: the build cache makes a rebuild seconds), and `docker compose up -d` of
the project's compose.yaml under a unique project name, removed with its network after."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.product import ROOT, free_port

TAG = "dockhand:test"


def build_image() -> str:
    """`.ci/image` (which makes debian:bookworm-slim first when it is missing); one
    worker builds while the others wait on the lock."""
    with open(Path(tempfile.gettempdir()) / "dockhand-own-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([str(ROOT / ".ci" / "image"), TAG], capture_output=True, text=True)
        assert result.returncode == 0, f".ci/image failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return TAG


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: a container on any bridge network
    reaches it through its gateway, so a server bound there is reachable from the
    container without opening it to the host's other networks."""
    out = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out, "the default bridge network has no gateway address"
    return out


@dataclass
class ComposedDockhand:
    """The project's compose.yaml brought up with a private data dir, port and name."""

    project: str
    data_dir: Path
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKHAND_IMAGE": TAG,
            "DOCKHAND_DATA_DIR": str(self.data_dir),
            "DOCKHAND_PORT": str(self.port),
            "DOCKHAND_ADMIN_PASSWORD": self.password,
        }

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "-p", self.project, "-f", str(ROOT / "compose.yaml"), *args]
        result = subprocess.run(command, capture_output=True, text=True, env=self.env(), cwd=ROOT)
        if check:
            assert result.returncode == 0, f"{' '.join(args)}: {result.stderr[-2000:]}"
        return result

    def container(self) -> str:
        return self.compose("ps", "-q", "dockhand").stdout.strip()

    def inspect(self) -> dict[str, object]:
        out = subprocess.run(["docker", "inspect", self.container()], capture_output=True, text=True, check=True)
        found: dict[str, object] = json.loads(out.stdout)[0]
        return found

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "80", check=False).stdout

    def wait_healthy(self, timeout: float) -> None:
        """/api/health through the published port answers 200."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"{self.url}/api/health", timeout=5)
                last = (response.status_code, response.text)
                if response.status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout) as exc:
                # Docker's proxy takes the connection before the product listens behind it.
                last = exc
            time.sleep(1)
        raise AssertionError(f"not healthy within {timeout} s (last: {last}):\n{self.logs()}")

    def docker_health(self, timeout: float) -> str:
        """The engine's own verdict from the image's HEALTHCHECK, once it has one."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            health = self.inspect()["State"]["Health"]  # type: ignore[index]
            state = str(health["Status"])
            if state != "starting":
                return state
            time.sleep(2)
        return state


@contextmanager
def composed_dockhand(root: Path, password: str) -> Iterator[ComposedDockhand]:
    """`docker compose up -d` of compose.yaml; `down` (containers, network) after."""
    app = ComposedDockhand(f"dockhand-image-{uuid.uuid4().hex[:8]}", root / "data", free_port(), password)
    try:
        app.compose("up", "-d", "--no-build", "--quiet-pull")
        yield app
    finally:
        app.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)
