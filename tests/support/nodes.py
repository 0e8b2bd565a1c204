"""Scale-out mode for real: PostgreSQL for state, Redis for the broker, the cache and the
channel layer, and two worker nodes: `make run` (web, clock and worker: node-a) and a
`manage.py qcluster` run alone with its own data dir, as on another host (node-b)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import need
from tests.support import postgres
from tests.support.product import ROOT, Product
from tests.support.redisserver import RedisServer
from tests.support.redisserver import available as redis_available


@dataclass
class TwoNodes:
    product: Product  # node-a
    shared: dict[str, str]  # what every node is given: DATABASE_URL, DOCKHAND_REDIS_URL, the key
    worker: subprocess.Popen[bytes]  # node-b
    worker_log: Path


@contextmanager
def two_nodes(tmp_path: Path, admin_password: str, extra_env: dict[str, str] | None = None) -> Iterator[TwoNodes]:
    need("postgres", postgres.available())
    need("redis-server", redis_available())
    need("make", shutil.which("make") is not None)
    database, redis = postgres.PostgresServer(), RedisServer(tmp_path)
    shared = {
        "DATABASE_URL": database.create_database(),
        "DOCKHAND_REDIS_URL": redis.url,
        # Shared by every node: it is the root of the secrets encrypted at rest.
        "DOCKHAND_SECRET_KEY": "scale-out-test-key-" + "x" * 40,
        **(extra_env or {}),
    }
    product = Product(tmp_path / "node-a", admin_password, {**shared, "DOCKHAND_NODE_NAME": "node-a"})
    second: subprocess.Popen[bytes] | None = None
    try:
        product.wait_healthy(90)  # migrated the shared database first
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DOCKHAND_TASKS_INLINE")}
        env.update(shared, DOCKHAND_NODE_NAME="node-b", DOCKHAND_DATA_DIR=str(tmp_path / "node-b"))
        log_path = tmp_path / "node-b.log"
        with open(log_path, "wb") as log:
            second = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        yield TwoNodes(product, shared, second, log_path)
    finally:
        if second is not None and second.poll() is None:
            second.terminate()
            try:
                second.wait(60)
            except subprocess.TimeoutExpired:
                second.kill()
        product.interrupt()
        product.kill()
        redis.stop()
        database.stop()
