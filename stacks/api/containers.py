"""A stack's containers: the list (with usage on request), one container's log as text,
and start / stop / restart of one container."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error, query_bool
from dockhand.models import ApiToken
from dockhand.openapi import ErrorSerializer, detail, flag
from stacks import engine
from stacks.api.views import STACK_NOT_FOUND, visible_stacks
from stacks.models import GitStack
from stacks.services.containers import ContainerMissing, container_log, container_operate, container_usage
from stacks.services.status import stack_workloads

DEFAULT_TAIL = 500
_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def stack_of(request: Request, pk: int) -> GitStack | None:
    stack: GitStack | None = (
        visible_stacks(request, GitStack.objects.select_related("environment", "repository")).filter(pk=pk).first()
    )
    return stack


# A container, or a swarm stack's service (its replicas instead of a state).
CONTAINER_ROW = detail(
    "Container",
    id=serializers.CharField(required=False),
    name=serializers.CharField(),
    service=serializers.CharField(),
    image=serializers.CharField(),
    state=serializers.CharField(required=False),
    status=serializers.CharField(required=False),
    health=serializers.CharField(required=False, allow_null=True),
    ports=serializers.ListField(child=serializers.JSONField(), required=False),
    replicas=serializers.CharField(required=False),
    running=serializers.IntegerField(required=False),
    desired=serializers.IntegerField(required=False),
    error=serializers.CharField(required=False, allow_null=True),
    startedAt=serializers.DateTimeField(required=False, allow_null=True),
    uptimeSeconds=serializers.IntegerField(required=False, allow_null=True),
    cpuPercent=serializers.FloatField(required=False, allow_null=True),
    memoryBytes=serializers.IntegerField(required=False, allow_null=True),
    memoryLimitBytes=serializers.IntegerField(required=False, allow_null=True),
    many=True,
)


def container_row(found: engine.ContainerInfo | engine.ServiceInfo) -> dict[str, object]:
    """A container (or a swarm stack's service) as the API and the pages' script read it."""
    if isinstance(found, engine.ContainerInfo):
        return {
            "id": found.id,
            "name": found.name,
            "service": found.service,
            "image": found.image,
            "state": found.state,
            "status": found.status,
            "health": found.health or None,
            "ports": found.ports,
        }
    service = found
    return {
        "name": service.name,
        "service": service.service,
        "image": service.image,
        "replicas": f"{service.running}/{service.desired}",
        "running": service.running,
        "desired": service.desired,
        "error": service.error or None,
    }


def _usage(stats: engine.ContainerStats | None) -> dict[str, object]:
    now = timezone.now()
    started = stats.started_at if stats else None
    return {
        "startedAt": started.isoformat() if started else None,
        "uptimeSeconds": int((now - started).total_seconds()) if started else None,
        "cpuPercent": stats.cpu_percent if stats else None,
        "memoryBytes": stats.memory_bytes if stats else None,
        "memoryLimitBytes": stats.memory_limit_bytes if stats else None,
    }


class StackContainers(APIView):
    """GET /api/git/stacks/<id>/containers (a swarm stack: its services and replicas);
    `?stats=true` adds each container's startedAt, uptimeSeconds, cpuPercent,
    memoryBytes and memoryLimitBytes (null while it is not running): a second more."""

    @extend_schema(
        responses={200: CONTAINER_ROW, 502: ErrorSerializer},
        parameters=[flag("stats", "Add each container's usage (a second more)")],
    )
    def get(self, request: Request, pk: int) -> Response:
        stack = stack_of(request, pk)
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        with_stats = query_bool(request, "stats", False)
        try:
            found = sorted(stack_workloads(stack), key=lambda w: (w.service, w.name))
            usage = container_usage(stack=stack, containers=found) if with_stats else {}
        except engine.EngineError as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc)
        rows = []
        for workload in found:
            row = container_row(workload)
            if with_stats and isinstance(workload, engine.ContainerInfo):
                row.update(_usage(usage.get(workload.id)))
            rows.append(row)
        return Response(rows)


def query_tail(request: Request) -> int:
    """`tail`: a number of lines up to engine.MAX_LOG_LINES, or `all` (that many)."""
    raw = request.query_params.get("tail", "")
    if raw == "":
        return DEFAULT_TAIL
    if raw == "all":
        return engine.MAX_LOG_LINES
    if not raw.isdigit() or int(raw) > engine.MAX_LOG_LINES:
        raise exceptions.ValidationError({"tail": [f"must be a number of lines up to {engine.MAX_LOG_LINES} or all"]})
    return int(raw)


def query_since(request: Request) -> datetime | None:
    """`since`: UNIX seconds, an ISO 8601 time, or a while ago (`30s`, `15m`, `2h`, `1d`)."""
    raw = request.query_params.get("since", "").strip()
    if not raw:
        return None
    ago = _AGO.match(raw)
    try:
        if ago:
            return timezone.now() - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw), tz=UTC)
        when = datetime.fromisoformat(raw)
    except (ValueError, OverflowError, OSError) as exc:  # OSError: a time the platform cannot hold
        raise exceptions.ValidationError({"since": [f"must be a time, not {raw!r}"]}) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _filename(container: engine.ContainerInfo) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", container.name or container.id[:12])
    return f"{name}-{timezone.now():%Y%m%d-%H%M%S}.log"


class ContainerLogs(APIView):
    """GET /api/git/stacks/<id>/containers/<name or id>/logs?tail=&timestamps=&since=
    &download=: the log as text, the stack's secrets masked (download: as a file)."""

    @extend_schema(
        responses={(200, "text/plain"): str, 502: ErrorSerializer},
        parameters=[
            OpenApiParameter("tail", str, description="Lines from the end: a number or `all` (default 500)"),
            OpenApiParameter("since", str, description="UNIX seconds, an ISO 8601 time, or `30s`, `15m`, `2h`, `1d`"),
            flag("timestamps", "Prefix each line with its time"),
            flag("download", "Answer as a file (Content-Disposition)"),
        ],
    )
    def get(self, request: Request, pk: int, ref: str) -> HttpResponse:
        stack = stack_of(request, pk)
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        tail, since = query_tail(request), query_since(request)
        timestamps = query_bool(request, "timestamps", False)
        download = query_bool(request, "download", False)
        try:
            container, lines = container_log(stack=stack, ref=ref, tail=tail, since=since)
        except ContainerMissing as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND, cause=exc)
        except engine.EngineError as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc)
        text = "".join(f"{line.time} {line.text}\n" if timestamps else f"{line.text}\n" for line in lines)
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        if download:
            response["Content-Disposition"] = f'attachment; filename="{_filename(container)}"'
        return response


class ContainerOperation(APIView):
    """POST /api/git/stacks/<id>/containers/<name or id>/start|stop|restart (deployers)."""

    write_scope = ApiToken.Scope.WRITE
    action = ""

    @extend_schema(
        request=None,
        responses={
            200: detail("ContainerDone", success=serializers.BooleanField(), container=CONTAINER_ROW.child),
            502: ErrorSerializer,
        },
    )
    def post(self, request: Request, pk: int, ref: str) -> Response:
        stack = stack_of(request, pk)
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        try:
            container = container_operate(stack=stack, ref=ref, action=self.action, by=request.user)
        except ContainerMissing as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND, cause=exc)
        except engine.EngineError as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY, success=False, cause=exc)
        return Response({"success": True, "container": container_row(container)})
