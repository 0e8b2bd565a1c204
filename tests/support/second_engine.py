"""A second, private Docker engine for the remote-environment tests: its own dockerd
on a unix socket of its own and on tcp 127.0.0.1 with mutual TLS (a throwaway CA, a
server and a client certificate), its own data dir and its own bridge, so it never
touches the main engine's `docker0`. The test image is copied in with save | load.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support import docker as dockersupport
from tests.support.product import free_port


@dataclass(frozen=True)
class Pem:
    cert: str
    key: str


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _issue(
    name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, **kind: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if kind.get("server"):
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if kind.get("client"):
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def make_tls() -> tuple[str, Pem, Pem, Pem]:
    """(CA cert, server pair, client pair, a client pair from another CA), as PEM."""
    ca, ca_key = _issue("dockhand test CA", None)
    ca_id = (ca.subject, ca_key)
    pairs = []
    for name, kind in (("127.0.0.1", {"server": True}), ("dockhand", {"client": True})):
        cert, key = _issue(name, ca_id, **kind)
        pairs.append(Pem(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)))
    stranger_ca = _issue("another CA", None)
    stranger, stranger_key = _issue("stranger", (stranger_ca[0].subject, stranger_ca[1]), client=True)
    foreign = Pem(stranger.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(stranger_key))
    return ca.public_bytes(serialization.Encoding.PEM).decode(), pairs[0], pairs[1], foreign


class SecondEngine:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dh-e2-"))
        self.socket = f"unix://{self.dir}/docker.sock"
        self.port = free_port()
        self.tcp = f"tcp://127.0.0.1:{self.port}"
        self.bridge = f"dhbr{uuid.uuid4().hex[:6]}"
        self.ca, server, self.client, self.stranger = make_tls()
        for name, text in (("ca.pem", self.ca), ("server.pem", server.cert), ("server-key.pem", server.key)):
            (self.dir / name).write_text(text)
        subprocess.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"], check=True)
        # Subnets of their own: two test processes may each run a second engine.
        net = random.randrange(0, 250)
        subprocess.run(["ip", "addr", "add", f"10.214.{net}.1/24", "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)
        self.log = open(self.dir / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--host", self.socket,
                "--host", self.tcp,
                "--tlsverify",
                "--tlscacert", str(self.dir / "ca.pem"),
                "--tlscert", str(self.dir / "server.pem"),
                "--tlskey", str(self.dir / "server-key.pem"),
                "--data-root", str(self.dir / "data"),
                "--exec-root", str(self.dir / "exec"),
                "--pidfile", str(self.dir / "docker.pid"),
                "--bridge", self.bridge,
                "--iptables=false",
                "--ip-masq=false",
                "--default-address-pool", f"base=10.{150 + net % 50}.0.0/16,size=24",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while self.docker("info").returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"the second dockerd did not start: {(self.dir / 'dockerd.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        saved = subprocess.run(["docker", "save", dockersupport.ensure_image()], check=True, capture_output=True)
        subprocess.run(["docker", "-H", self.socket, "load"], input=saved.stdout, check=True, capture_output=True)

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", self.socket, *args], capture_output=True, text=True)

    def running(self, container: str) -> bool:
        found = self.docker("inspect", "-f", "{{.State.Running}}", container)
        return found.returncode == 0 and found.stdout.strip() == "true"

    def swarm_init(self) -> None:
        done = self.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        if done.returncode != 0:
            raise RuntimeError(f"docker swarm init failed: {done.stderr}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.docker("swarm", "leave", "--force")
            for leftover in self.docker("ps", "-aq").stdout.split():
                self.docker("rm", "-f", leftover)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        # Network namespaces a swarm's overlay networks leave mounted (they hold vxlan
        # devices that would clash with the next engine's).
        with open("/proc/mounts") as mounts:
            held = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{self.dir}/")]
        for mountpoint in sorted(held, reverse=True):
            subprocess.run(["umount", "-l", mountpoint], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        drop_stray_vxlans()


def drop_stray_vxlans() -> None:
    """Delete the overlay vxlan devices a stopped swarm engine left in this host's own
    network namespace. The engine makes each one here and moves it into its overlay's
    namespace, so a live swarm's are not here; one left behind (DOWN, its engine gone
    mid-removal) keeps its VXLAN id, and the next swarm's first overlay network, which
    takes the same id, fails ("error creating vxlan interface: file exists").
    Run under one_swarm(): no other swarm of the tests is making one meanwhile."""
    listed = subprocess.run(["ip", "-o", "link", "show", "type", "vxlan"], capture_output=True, text=True)
    for line in listed.stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@", 1)[0]
        if name.startswith("vx-") and "state DOWN" in line:
            subprocess.run(["ip", "link", "del", name], capture_output=True)


@contextmanager
def one_swarm() -> Iterator[None]:
    """One swarm on this machine at a time, across test workers: each swarm's first
    overlay network takes the same VXLAN id, and a second one's vxlan device then fails
    ("error creating vxlan interface: file exists")."""
    with open(Path(tempfile.gettempdir()) / "dockhand-test-swarm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        drop_stray_vxlans()  # an earlier run's, killed before its stop()
        yield


def available() -> bool:
    return bool(shutil.which("dockerd") and shutil.which("ip")) and os.geteuid() == 0
