"""The product started for real with `make run`, and an HTTP client for its API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
# Variables of the test process that must not reach the product it starts.
_TEST_ONLY = ("DJANGO_SETTINGS_MODULE", "DOCKHAND_TASKS_INLINE", "DOCKHAND_DEPLOY_TIMEOUT", "DOCKHAND_GIT_TIMEOUT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Product:
    """`make run` in its own process group, on a private data dir and port."""

    def __init__(self, data_dir: Path, admin_password: str, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_password = admin_password
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        env = {k: v for k, v in os.environ.items() if k not in _TEST_ONLY}
        env.update(
            DOCKHAND_DATA_DIR=str(data_dir),
            DOCKHAND_BIND=f"127.0.0.1:{self.port}",
            DOCKHAND_ADMIN_PASSWORD=admin_password,
            # Two web processes, as on any machine with two cores or more, whatever this
            # one has: sessions, live output and rate limits must hold across them.
            DOCKHAND_WEB_PROCESSES="2",
        )
        env.update(extra_env or {})
        self._log = open(self.log_path, "wb")  # closed by interrupt()
        self.proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"VENV={sys.prefix}"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"make run exited with {self.proc.returncode}:\n{self.log()}")
            try:
                response = requests.get(f"{self.url}/api/health", timeout=5)
                last = (response.status_code, response.text)
                if response.status_code == 200:
                    return dict(response.json())
            except (requests.ConnectionError, requests.Timeout) as exc:
                # The port is bound before the web processes start: a request made
                # meanwhile waits in the backlog instead of being refused.
                last = exc
            time.sleep(0.5)
        raise AssertionError(f"not healthy within {timeout} s (last: {last}):\n{self.log()}")

    def interrupt(self, timeout: float = 45) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole foreground group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        if self.group_alive():
            os.killpg(self.proc.pid, signal.SIGKILL)

    def power_cut(self) -> None:
        """SIGKILL every process the product started, whatever its session (web, worker,
        compose runs): what a power cut or `docker kill` of its container does."""
        tree = _descendants(self.proc.pid)
        for pid in [self.proc.pid, *tree]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self._log.close()


def web_pids(root: int) -> list[int]:
    """The web (Daphne) processes under `root`: the children of `python -m
    dockhand.prefork`, which forks them and names the same command."""
    tier = [pid for pid in _descendants(root) if _argv(pid)[1:3] == [b"-m", b"dockhand.prefork"]]
    return [pid for pid in tier if _parent(pid) in tier]


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []  # exited meanwhile


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@contextmanager
def running_product(data_dir: Path, admin_password: str, extra_env: dict[str, str] | None = None) -> Iterator[Product]:
    """`make run` for the duration of the block; Ctrl-C (and, if need be, SIGKILL) after."""
    product = Product(data_dir, admin_password, extra_env)
    try:
        yield product
    finally:
        product.interrupt()
        product.kill()


def wait_until(what: str, check: Any, timeout: float) -> Any:
    """`check()`'s first truthy answer, asked twice a second; AssertionError naming
    `what` when none came within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


class ApiClient:
    """A logged-in cookie session that sends the CSRF token like the dashboard does."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        self.session = requests.Session()
        response = self.session.post(
            f"{base}/api/auth/login", json={"username": username, "password": password}, timeout=10
        )
        assert response.status_code == 200, response.text
        self.session.headers["X-CSRFToken"] = response.json()["csrfToken"]
        self.session.headers["Referer"] = base

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.base + path, json=json or {}, timeout=kw.pop("timeout", 120), **kw)
