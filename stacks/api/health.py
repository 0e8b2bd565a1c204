"""GET /api/health: whether this node can work (spec §3)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_q.status import Stat
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from stacks.models import GitStack
from stacks.services.environments import engines_check

# Below this much free space in the data directory the next deploy's files may not fit.
LOW_DISK_BYTES = 64 * 1024 * 1024


class HealthView(APIView):
    """GET /api/health: the database (can it be written now?), the disk, the worker
    heartbeat, work stuck past its lease, and each environment's engine.

    Unhealthy (503) while this node cannot work: no database or one that takes no
    writes, a nearly full data disk, no live worker cluster, a stack held past its
    lease and a tick of the reaper, or the `local` environment's engine unreachable.
    Another environment's engine being down is reported under `engines` without
    failing the node.
    """

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        problems: list[str] = []
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            problems.append(f"database: {exc}")
        database_ok = not problems
        if database_ok:
            unwritable = _unwritable()
            if unwritable:
                problems.append(f"database: cannot be written: {unwritable}")
            stuck = _stuck()
            if stuck:
                problems.append(f"work: {stuck}")
        free = _free_bytes(settings.DATA_DIR)
        if free < LOW_DISK_BYTES:
            problems.append(f"disk: {free // (1024 * 1024)} MiB free in the data directory")
        try:
            if not any(stat.status != "Stopped" for stat in Stat.get_all()):
                problems.append("worker: no django-q2 cluster is running")
        except Exception as exc:
            problems.append(f"worker: {exc}")
        engines: dict[str, str] = {}
        if database_ok:  # environments live in the database
            for name, (ok, detail) in engines_check().items():
                engines[name] = detail if ok else f"unreachable: {detail}"
                if not ok and name == "local":
                    problems.append(f"docker: {detail}")
        checks = {
            "database": _part(problems, "database"),
            "disk": _part(problems, "disk"),
            "worker": _part(problems, "worker"),
            "work": _part(problems, "work"),
            "engines": engines,
        }
        if problems:
            return Response(
                {"details": "unhealthy", "error": "; ".join(problems), **checks},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"details": "healthy", **checks})


def _part(problems: list[str], part: str) -> str:
    return next((p.partition(": ")[2] for p in problems if p.startswith(f"{part}: ")), "ok")


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


def _stuck() -> str:
    """Stacks whose lock lease ran out longer ago than the reaper needs to take it back."""
    overdue = timezone.now() - timedelta(seconds=60 + settings.LOCK_LEASE / 2)
    names = list(
        GitStack.objects.filter(lock_owner__isnull=False, lock_expires__lt=overdue).values_list("name", flat=True)[:5]
    )
    if not names:
        return ""
    return f"held past their lease, not taken back: {', '.join(names)}"


def _free_bytes(directory: Path) -> int:
    """Free space on the disk the data directory is (or will be made) on."""
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return shutil.disk_usage(directory).free
