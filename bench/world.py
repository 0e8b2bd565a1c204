"""What a benchmark runs against: the real git server, the real engine, and the product
started by `make run` on a private data dir (web server and worker as separate
processes), the same parts the end-to-end tests use."""

from __future__ import annotations

import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support import docker as dockersupport
from tests.support.gitserver import GitServer, TestRepo, start_git_server
from tests.support.product import ApiClient, Product

USER, TOKEN, PASSWORD = "bench", "bench-token-123", "bench-Admin-pass-1"
ROOT = Path(__file__).resolve().parents[1]


def compose_file(version: str) -> str:
    return (
        "services:\n  app:\n"
        f"    image: {dockersupport.IMAGE}\n    pull_policy: never\n"
        "    command: ['sleep', '3600']\n    stop_grace_period: 1s\n"
        f"    environment:\n      VERSION: '{version}'\n"
    )


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.git: GitServer = start_git_server(tmp / "git", USER, TOKEN)
        self.image = dockersupport.ensure_image()

    def repo(self, files: dict[str, str] | None = None) -> TestRepo:
        return self.git.create_repo(f"r-{uuid.uuid4().hex[:8]}", files or {"compose.yaml": compose_file("0")})

    def authed_url(self, repo: TestRepo) -> str:
        return repo.url.replace("http://", f"http://{USER}:{TOKEN}@")

    @contextmanager
    def product(self, name: str, extra_env: dict[str, str] | None = None) -> Iterator[Running]:
        # As `make run` runs it (the suite's products run two web processes whatever the
        # machine; a figure that needs more says so).
        product = Product(self.tmp / name, PASSWORD, {"DOCKHAND_WEB_PROCESSES": "", **(extra_env or {})})
        try:
            product.wait_healthy(120)
            yield Running(product, self.git)
        finally:
            product.interrupt()
            product.kill()


class Running:
    """A started product with a logged-in client and a credential for the git server."""

    def __init__(self, product: Product, git: GitServer) -> None:
        self.product = product
        self.client = ApiClient(product.url, "admin", PASSWORD)
        body = {"name": "bench", "authType": "token", "username": USER, "token": TOKEN, "urlPrefixes": [git.prefix]}
        self.credential = self.client.post("/api/git/credentials", body).json()["id"]
        self.projects: list[str] = []

    def stack(self, repo: TestRepo, *, checked: bool = True, **extra: Any) -> dict[str, Any]:
        body = {"stackName": f"b{uuid.uuid4().hex[:10]}", "url": repo.url, "credentialId": self.credential, **extra}
        response = self.client.post("/api/git/stacks" if checked else "/api/git/stacks?check=false", body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        self.projects.append(created["projectName"])
        return created

    def stacks(self, repo: TestRepo, count: int, **extra: Any) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(4) as pool:
            # Set-up, not what is measured: a thousand creates need not each ask the git server.
            return list(pool.map(lambda _: self.stack(repo, checked=False, **extra), range(count)))

    def db(self) -> sqlite3.Connection:
        """The product's own database, read-only (to watch deployments land)."""
        path = self.product.data_dir / "dockhand.sqlite3"
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def db_write(self) -> sqlite3.Connection:
        """The product's database for bench set-up that no API offers (a stack already
        deployed at a commit, without 500 real deploys)."""
        return sqlite3.connect(self.product.data_dir / "dockhand.sqlite3", timeout=30)

    def remove_projects(self) -> None:
        for project in self.projects:
            dockersupport.remove_project(project)


@contextmanager
def world() -> Iterator[World]:
    tmp = Path(tempfile.mkdtemp(prefix="dockhand-bench-"))
    w = World(tmp)
    try:
        yield w
    finally:
        w.git.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
