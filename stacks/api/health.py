"""GET /api/health: whether this node can work (spec §3)."""

from __future__ import annotations

from django.db import connection
from django_q.status import Stat
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from stacks.services.environments import engines_check


class HealthView(APIView):
    """GET /api/health: the database, the worker heartbeat and each environment's engine.

    Unhealthy (503) when this node cannot work: no database, no live worker cluster, or
    the `local` environment's engine unreachable. Another environment's engine being
    down is reported under `engines` without failing the node.
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
        checks = {"database": _part(problems, "database"), "worker": _part(problems, "worker"), "engines": engines}
        if problems:
            return Response(
                {"details": "unhealthy", "error": "; ".join(problems), **checks},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"details": "healthy", **checks})


def _part(problems: list[str], part: str) -> str:
    return next((p.partition(": ")[2] for p in problems if p.startswith(f"{part}: ")), "ok")
