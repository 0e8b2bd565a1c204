"""Test settings: a private data dir per test process and tasks run inline.

The end-to-end tests start the product for real (web + worker processes) instead.
"""

import os
import tempfile

# Always a fresh one, per process: parallel workers inherit the controller's
# environment, and a shared data dir means a shared file cache (rate-limit counters
# wiped by another worker's cache.clear()). Tests never touch a real data dir.
os.environ["DOCKHAND_DATA_DIR"] = tempfile.mkdtemp(prefix="dockhand-test-")
os.environ.setdefault("DOCKHAND_TASKS_INLINE", "true")
os.environ.setdefault("DOCKHAND_DEPLOY_TIMEOUT", "120")
os.environ.setdefault("DOCKHAND_GIT_TIMEOUT", "30")

# Under tests/scaleout.py (PostgreSQL + Redis): each parallel test process its own
# Redis database, as each has its own test database (a cache.clear() or a channel
# group of one must not reach the other).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
if os.environ.get("DOCKHAND_REDIS_URL"):
    base, _, _db = os.environ["DOCKHAND_REDIS_URL"].rpartition("/")
    os.environ["DOCKHAND_REDIS_URL"] = f"{base}/{1 + int(_worker.removeprefix('gw') or 0)}"

from dockhand.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Each test process gets its own in-memory SQLite database. (pytest-django names a
# per-worker test database after the file unless the engine is Django's own sqlite3.)
if DATABASES["default"]["ENGINE"] == "dockhand.sqlite":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}  # noqa: F405
