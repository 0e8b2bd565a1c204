"""A real registry in tests: Debian's `docker-registry` (CNCF distribution) with an
htpasswd login, on 127.0.0.1 (dockerd allows plain http to loopback), optionally with
TLS from a throwaway CA that dockerd trusts through /etc/docker/certs.d/<host:port>/.

Images are pushed with a DOCKER_CONFIG made in the test, never the machine's ~/.docker.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.docker import IMAGE

USER = "ci-pusher"
PASSWORD = "Registry-Canary-5d0c2e91"
CERTS_DIR = Path("/etc/docker/certs.d")


@dataclass
class Registry:
    host: str  # host:port, as images name it
    root: Path
    process: subprocess.Popen[bytes]
    ca: Path | None = None

    def ref(self, repository: str, tag: str = "stable") -> str:
        return f"{self.host}/{repository}:{tag}"

    @contextmanager
    def docker_config(self) -> Iterator[Path]:
        """A DOCKER_CONFIG logged in to this registry, for pushes made by the test."""
        where = Path(tempfile.mkdtemp(prefix="test-docker-config-"))
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        (where / "config.json").write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        try:
            yield where
        finally:
            shutil.rmtree(where, ignore_errors=True)

    def push_image(self, repository: str, tag: str = "stable", *, marker: str) -> str:
        """Build an image FROM the busybox test image (its content made distinct by
        `marker`), push it as repository:tag, remove the local tag; the digest pushed."""
        ref = self.ref(repository, tag)
        with tempfile.TemporaryDirectory() as ctx, self.docker_config() as config:
            Path(ctx, "Dockerfile").write_text(
                f'FROM {IMAGE}\nRUN echo "{marker}" > /marker\nCMD ["sh", "-c", "cat /marker; exec sleep 3600"]\n'
            )
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "DOCKER_CONFIG": str(config)}
            subprocess.run(["docker", "build", "-q", "-t", ref, ctx], check=True, capture_output=True, env=env)
            pushed = subprocess.run(["docker", "push", ref], check=True, capture_output=True, text=True, env=env)
            subprocess.run(["docker", "image", "rm", ref], capture_output=True, env=env)
        digest = next(w for w in pushed.stdout.split() if w.startswith("sha256:"))
        return digest

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.ca is not None:
            shutil.rmtree(CERTS_DIR / self.host, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _htpasswd(root: Path) -> Path:
    made = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True)
    path = root / "htpasswd"
    path.write_text(made.stdout)
    return path


def _throwaway_ca(root: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for `names` (DNS and IP), valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockhand test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = root / "ca.crt", root / "server.crt", root / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def start_registry(*, tls: bool = False) -> Registry:
    """Start a registry on a free loopback port; with `tls`, named `localhost:<port>`
    (not 127.0.0.1, which dockerd would reach insecurely anyway) and trusted by dockerd
    through /etc/docker/certs.d. The caller stops it."""
    root = Path(tempfile.mkdtemp(prefix="test-registry-"))
    port = free_port()
    host = f"localhost:{port}" if tls else f"127.0.0.1:{port}"
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"htpasswd": {"realm": "dockhand-test", "path": str(_htpasswd(root))}},
    }
    ca = None
    if tls:
        ca, cert, key = _throwaway_ca(root, ["localhost", "127.0.0.1"])
        config["http"] = {"addr": f"127.0.0.1:{port}", "tls": {"certificate": str(cert), "key": str(key)}}
        (CERTS_DIR / host).mkdir(parents=True, exist_ok=True)
        shutil.copy(ca, CERTS_DIR / host / "ca.crt")
    (root / "config.yml").write_text(json.dumps(config))
    log = open(root / "registry.log", "wb")
    process = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=log)
    registry = Registry(host=host, root=root, process=process, ca=ca)
    deadline = time.monotonic() + 20
    scheme = "https" if tls else "http"
    while True:
        try:
            requests.get(f"{scheme}://{host}/v2/", timeout=2, verify=str(ca) if ca else True)
            return registry
        except requests.RequestException as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                said = (root / "registry.log").read_text()[-500:]
                registry.stop()
                raise RuntimeError(f"docker-registry did not start: {said}") from exc
            time.sleep(0.1)
