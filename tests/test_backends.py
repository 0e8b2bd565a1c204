"""The suite runs on the backends it was asked for: SQLite and in-memory layers by
default, PostgreSQL and Redis under tests/scaleout.py (so a pass there means them)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.cache import cache
from django.db import connection


def test_the_configured_backends_are_the_ones_in_use() -> None:
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert connection.vendor == "postgresql"
    else:
        assert connection.vendor == "sqlite"
    if os.environ.get("DOCKHAND_REDIS_URL"):
        assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
        assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
        assert settings.Q_CLUSTER.get("redis") == os.environ["DOCKHAND_REDIS_URL"]
        cache.set("backend-check", "yes")
        assert cache.get("backend-check") == "yes"
