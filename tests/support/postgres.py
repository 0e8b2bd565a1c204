"""A throwaway PostgreSQL cluster on a loopback port (Debian's postgresql package),
owned by the `postgres` system user because the server refuses to run as root."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.product import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    return _bin("initdb") is not None and _bin("pg_ctl") is not None


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        # Its own directory under /tmp: the `postgres` user cannot enter a test's
        # private (0700, root's) temporary directory.
        self.dir = Path(tempfile.mkdtemp(prefix="dockhand-pg-"))
        self.dir.chmod(0o755)
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        self._run(str(_bin("initdb")), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.data = data
        self.start()

    def start(self) -> None:
        """Start the server (again, after `pause`) and wait until it answers."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=200"
        self._run(str(_bin("pg_ctl")), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")
        deadline = time.monotonic() + 30
        while self._psql("SELECT 1").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {(self.dir / 'log').read_text()[-2000:]}")
            time.sleep(0.2)

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_root else list(args)
        subprocess.run(command, check=True, capture_output=True)

    def _psql(self, sql: str) -> subprocess.CompletedProcess[str]:
        psql = str(_bin("psql"))
        return subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", sql],
            capture_output=True,
            text=True,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"d_{uuid.uuid4().hex[:10]}"
        done = self._psql(f"CREATE DATABASE {name}")
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return self.url(name)

    def pause(self) -> None:
        """Stop the server as a crash would (every connection dropped), keeping its data."""
        self._run(str(_bin("pg_ctl")), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._run(str(_bin("pg_ctl")), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
