"""The real Docker engine in tests: a locally built busybox image and project cleanup."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

IMAGE = "dockhand-test/busybox:1"


def engine_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_image() -> str:
    """Build the busybox test image once (a file lock keeps parallel workers in step)."""
    with open(Path(tempfile.gettempdir()) / "dockhand-test-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
            return IMAGE
        busybox = shutil.which("busybox") or "/bin/busybox"
        with tempfile.TemporaryDirectory() as ctx:
            shutil.copy(busybox, Path(ctx) / "busybox")
            (Path(ctx) / "Dockerfile").write_text(
                'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n'
            )
            subprocess.run(["docker", "build", "-q", "-t", IMAGE, ctx], check=True, capture_output=True)
    return IMAGE


def containers(project: str) -> list[dict[str, str]]:
    """`docker ps -a` rows of a compose project, as dicts."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{json .}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def container_env(name: str) -> dict[str, str]:
    out = subprocess.run(["docker", "exec", name, "env"], check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def inspect(name: str) -> dict[str, object]:
    out = subprocess.run(["docker", "inspect", name], check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out)[0]
    return result


def remove_project(project: str) -> None:
    ids = [c["ID"] for c in containers(project)]
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    subprocess.run(["docker", "network", "rm", f"{project}_default"], capture_output=True)
    # Its named volumes too (compose labels them with the project), or they pile up run after run.
    listed = ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"]
    volumes = subprocess.run(listed, capture_output=True, text=True).stdout.split()
    if volumes:
        subprocess.run(["docker", "volume", "rm", "-f", *volumes], capture_output=True)


# A compose service of the test image that prints to its log: a line with the SECRET
# override in it, then "ready"; `print_line` makes it print more while it runs.
CHATTY_SERVICE = """\
  {name}:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "echo \\"booting with $$SECRET\\"; echo ready; exec sleep 3600"]
    stop_grace_period: 1s
    environment:
      SECRET: ${{SECRET:-unset}}
"""


def chatty_compose(*names: str) -> str:
    """A compose file of chatty services (default: one, `app`)."""
    return "services:\n" + "".join(CHATTY_SERVICE.format(name=n, image=IMAGE) for n in names or ("app",))


def print_line(container: str, text: str, *, docker_host: str = "") -> None:
    """Make a running container print `text` to its log, as its main process would."""
    host = ["-H", docker_host] if docker_host else []
    subprocess.run(
        ["docker", *host, "exec", container, "sh", "-c", 'echo "$0" > /proc/1/fd/1', text],
        check=True,
        capture_output=True,
    )
