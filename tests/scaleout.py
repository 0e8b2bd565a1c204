"""The suite's in-process tests a second time, on PostgreSQL and Redis.

`make test` runs this after the main suite: it starts a throwaway PostgreSQL cluster
and redis-server, points the test settings at them (pytest-django makes its test
databases in that cluster; each test process gets its own Redis database for the
cache and the channel layer) and runs them. Under CI a missing server
fails the run; elsewhere it is reported and skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import postgres
from tests.support.redisserver import RedisServer
from tests.support.redisserver import available as redis_available

# Every in-process test (syncs, triggers, webhooks, schedules, locks, API, pages): a
# pass means no code path works only on SQLite. The end-to-end tests start products of
# their own (tests/e2e/test_scale_out.py runs two worker nodes on Postgres and Redis).
MODULES = ["tests", "--ignore=tests/e2e", "--ignore=tests/browser"]


def main(extra: list[str]) -> int:
    if not (postgres.available() and redis_available()):
        print("scale-out tests: PostgreSQL or redis-server is not installed")
        return 1 if os.environ.get("CI") == "true" else 0
    database = postgres.PostgresServer()
    redis = RedisServer(Path(tempfile.mkdtemp(prefix="dockhand-redis-")))
    try:
        env = {**os.environ, "DATABASE_URL": database.url(), "DOCKHAND_REDIS_URL": redis.url}
        command = [sys.executable, "-m", "pytest", "-n", "3", "--dist", "loadfile", *(extra or MODULES)]
        print("scale-out tests on PostgreSQL and Redis:", " ".join(command[3:]), flush=True)
        return subprocess.run(command, env=env).returncode
    finally:
        redis.stop()
        database.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
