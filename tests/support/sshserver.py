"""A real OpenSSH server on a loopback port, serving git over SSH with key auth."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.product import free_port

SSHD = "/usr/sbin/sshd"


def available() -> bool:
    return Path(SSHD).exists() and shutil.which("ssh-keygen") is not None


def keygen(path: Path, passphrase: str = "") -> tuple[str, str]:
    """A new ed25519 key pair; returns (private key text, public key line)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "dockhand-test", "-f", str(path)], check=True
    )
    return path.read_text(), path.with_suffix(".pub").read_text().strip()


class SshServer:
    """sshd -D on 127.0.0.1:<port>, accepting the public keys passed to `authorize`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.user = getpass.getuser()
        _, host_pub = keygen(root / "host_key")
        self.host_key_line = f"[127.0.0.1]:{self.port} {' '.join(host_pub.split()[:2])}"
        self.authorized = root / "authorized_keys"
        self.authorized.write_text("")
        config = root / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized}\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nLogLevel ERROR\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=open(root / "sshd.log", "wb"))
        deadline = time.monotonic() + 10
        while subprocess.run(["ssh-keyscan", "-p", str(self.port), "127.0.0.1"], capture_output=True).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text()}")
            time.sleep(0.2)

    def authorize(self, public_key: str) -> None:
        with self.authorized.open("a") as fh:
            fh.write(public_key + "\n")

    def url(self, bare_repo: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{bare_repo}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
