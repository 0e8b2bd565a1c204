"""GET /api/health: whether this node can work (spec §3)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.status import Stat
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.openapi import detail as shape
from dockhand.tokens import token_environment_ids
from stacks.models import Environment, GitStack
from stacks.services.access import visible_environment_ids
from stacks.services.environments import engines_check

# Below this much free space in the data directory the next deploy's files may not fit.
LOW_DISK_BYTES = 64 * 1024 * 1024


# What an anonymous caller (a load balancer, an uptime monitor) is told of each check.
OK, FAILING = "ok", "failing"


@dataclass(frozen=True)
class _Reader:
    """Who asks: `None` environments for an owner, else the ids they may see (none for
    an anonymous caller, who is told words only)."""

    anonymous: bool
    environment_ids: list[int] | None

    def sees(self, environment_id: int) -> bool:
        return self.environment_ids is None or environment_id in self.environment_ids


# Each check says `ok`, `failing` (anonymous callers) or why it fails; `engines` (signed
# in only) what each visible engine runs.
HEALTH = shape(
    "Health",
    details=serializers.ChoiceField(choices=["healthy", "unhealthy"]),
    error=serializers.CharField(required=False),
    database=serializers.CharField(),
    disk=serializers.CharField(),
    worker=serializers.CharField(),
    work=serializers.CharField(),
    docker=serializers.CharField(),
    engines=serializers.DictField(child=serializers.CharField(), required=False),
)


class HealthView(APIView):
    """GET /api/health: the database (can it be written now?), the disk, the worker
    heartbeat, work stuck past its lease, and each environment's engine.

    Unhealthy (503) while this node cannot work: no database or one that takes no
    writes, a nearly full data disk, no live worker cluster, a stack held past its
    lease and a tick of the reaper, or the `local` environment's engine unreachable.
    Another environment's engine being down is reported under `engines` without
    failing the node.

    Anyone may ask; an anonymous caller is told `ok` or `failing` per check and nothing
    more (no environment, engine version or stack). A signed-in caller (or a token) is
    told why, about the environments they may see; an owner about all of them.
    """

    permission_classes = [AllowAny]

    @extend_schema(responses={200: HEALTH, 503: HEALTH}, tags=["health"], summary="Can this node work?")
    def get(self, request: Request) -> Response:
        problems: dict[str, str] = {}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            problems["database"] = str(exc)
        user = request.user
        # Memberships live in the database too: without one, a reader sees no environment.
        reader = _Reader(anonymous=not user.is_authenticated, environment_ids=[])
        engines: dict[str, str] = {}
        if "database" not in problems:  # what follows lives in the database
            reader = _Reader(reader.anonymous, visible_environment_ids(user, token_environment_ids(request)))
            unwritable = _unwritable()
            if unwritable:
                problems["database"] = f"cannot be written: {unwritable}"
            stuck = _stuck(reader)
            if stuck:
                problems["work"] = stuck
            engines = _engines(reader, problems)
        free = _free_bytes(settings.DATA_DIR)
        if free < LOW_DISK_BYTES:
            problems["disk"] = f"{free // (1024 * 1024)} MiB free in the data directory"
        try:
            if not any(stat.status != "Stopped" for stat in Stat.get_all()):
                problems["worker"] = "no django-q2 cluster is running"
        except Exception as exc:
            problems["worker"] = str(exc)
        if reader.anonymous:
            checks: dict[str, object] = {part: FAILING if part in problems else OK for part in PARTS}
            error = f"{FAILING}: {', '.join(p for p in PARTS if p in problems)}"
        else:
            checks = {**{part: problems.get(part, OK) for part in PARTS}, "engines": engines}
            error = "; ".join(f"{part}: {problems[part]}" for part in PARTS if part in problems)
        if problems:
            body = {"details": "unhealthy", "error": error, **checks}
            return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"details": "healthy", **checks})


# The checks, in the order an answer names them; `docker` is the `local` engine's.
PARTS = ("database", "disk", "worker", "work", "docker")


def _engines(reader: _Reader, problems: dict[str, str]) -> dict[str, str]:
    """What each engine the reader sees runs (or why it cannot be asked); the `local`
    one is always asked, its failure fails the node (and says why to those who see it)."""
    if reader.anonymous:
        asked = Environment.objects.filter(name="local")
    elif reader.environment_ids is None:
        asked = Environment.objects.all()
    else:
        asked = Environment.objects.filter(Q(name="local") | Q(pk__in=reader.environment_ids))
    engines: dict[str, str] = {}
    for environment, (ok, detail) in engines_check(asked).items():
        shown = reader.sees(environment.pk)
        if shown:
            engines[environment.name] = detail if ok else f"unreachable: {detail}"
        if not ok and environment.name == "local":
            problems["docker"] = detail if shown else "unreachable"
    return engines


def _unwritable() -> str:
    """Why the database takes no write right now ('' when it does): an UPDATE that
    changes nothing still needs the write lock (SQLite) or a writable server
    (PostgreSQL). SQLite is given 2 s, not its usual 20, to say so."""
    sqlite = connection.vendor == "sqlite"
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if sqlite:
                cursor.execute("PRAGMA busy_timeout")
                usual = int(cursor.fetchone()[0])
                cursor.execute("PRAGMA busy_timeout = 2000")
            try:
                GitStack.objects.filter(pk=-1).update(sync_error="")
            finally:
                if sqlite:
                    cursor.execute(f"PRAGMA busy_timeout = {usual}")
    except DatabaseError as exc:
        return str(exc)
    return ""


def _stuck(reader: _Reader) -> str:
    """Stacks whose lock lease ran out longer ago than the reaper needs to take it back
    (those the reader may not see only counted)."""
    overdue = timezone.now() - timedelta(seconds=60 + settings.LOCK_LEASE / 2)
    held = GitStack.objects.filter(lock_owner__isnull=False, lock_expires__lt=overdue).order_by("name")
    found = list(held.values_list("name", "environment_id")[:5])
    if not found:
        return ""
    named = [name for name, environment_id in found if reader.sees(environment_id)]
    others = len(found) - len(named)
    return "held past their lease, not taken back: " + ", ".join(
        named + ([f"{others} stack(s) you cannot see"] if others else [])
    )


def _free_bytes(directory: Path) -> int:
    """Free space on the disk the data directory is (or will be made) on."""
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return shutil.disk_usage(directory).free
