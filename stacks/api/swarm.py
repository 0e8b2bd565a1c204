"""A swarm stack's services by hand: POST /api/git/stacks/<id>/scale {"service"?,
"replicas"}, …/restart and …/run {"service"?}, each with `?wait=true`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error, query_bool
from dockhand.models import ApiToken
from dockhand.openapi import detail, flag
from stacks import engine
from stacks.api.views import STACK_NOT_FOUND, visible_stacks
from stacks.models import GitStack
from stacks.services.swarm_ops import (
    NotDone,
    ServiceResult,
    SwarmRefused,
    stack_job_run,
    stack_scale,
    stack_service_restart,
)

MAX_REPLICAS = 1000


class SwarmServiceSerializer(serializers.Serializer[Any]):
    """What became of one service an action was about (`_rows`)."""

    service = serializers.CharField(help_text="The compose service")
    name = serializers.CharField(help_text="The swarm service")
    done = serializers.BooleanField(help_text="Converged, or its job completed (false without ?wait=true)")
    detail = serializers.CharField()
    error = serializers.CharField(allow_null=True)


SWARM_DONE = detail(
    "SwarmDone",
    success=serializers.BooleanField(),
    waited=serializers.BooleanField(),
    services=SwarmServiceSerializer(many=True),
)
# An action that ran and failed (500), did not converge within the wait (504), or met
# an engine that does not answer (502); a swarm action says each service's state.
ACTION_FAILED = detail(
    "ActionFailed",
    error=serializers.CharField(),
    code=serializers.CharField(),
    success=serializers.BooleanField(),
    services=SwarmServiceSerializer(many=True, required=False),
)
SWARM_ANSWERS = {200: SWARM_DONE, 500: ACTION_FAILED, 502: ACTION_FAILED, 504: ACTION_FAILED}
WAIT = flag("wait", "Answer once the services converged or their jobs completed (default false)")


def _rows(results: list[ServiceResult]) -> list[dict[str, Any]]:
    return [
        {"service": r.service, "name": r.name, "done": r.done, "detail": r.detail, "error": r.error or None}
        for r in results
    ]


def _service(body: dict[str, Any]) -> str | None:
    service = body.get("service")
    if service is not None and (not isinstance(service, str) or not service):
        raise ValidationError({"service": ["must be the name of a service of the stack"]})
    return service


def swarm_answer(request: Request, stack: GitStack, action: str) -> Response:
    """Run `action` (scale, restart, run) on the stack's swarm services and answer it."""
    body = request.data if isinstance(request.data, dict) else {}
    service, wait = _service(body), query_bool(request, "wait", False)
    try:
        if action == "scale":
            replicas = body.get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or not 0 <= replicas <= MAX_REPLICAS:
                raise ValidationError({"replicas": [f"must be a whole number from 0 to {MAX_REPLICAS}"]})
            results = stack_scale(stack=stack, service=service, replicas=replicas, by=request.user, wait=wait)
        elif action == "run":
            results = stack_job_run(stack=stack, service=service, by=request.user, wait=wait)
        else:
            results = stack_service_restart(stack=stack, service=service, by=request.user, wait=wait)
    except SwarmRefused as exc:
        return error(f"{exc.field}: {exc}", status.HTTP_400_BAD_REQUEST, cause=exc, fields={exc.field: [str(exc)]})
    except NotDone as exc:
        code = status.HTTP_504_GATEWAY_TIMEOUT if exc.error_code == "timeout" else status.HTTP_500_INTERNAL_SERVER_ERROR
        return error(str(exc), code, cause=exc, success=False, services=_rows(exc.results))
    except engine.EngineError as exc:
        return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc, success=False)
    return Response({"success": True, "waited": wait, "services": _rows(results)})


class SwarmAction(APIView):
    """POST /api/git/stacks/<id>/scale and …/run (…/restart: lifecycle.StackOperation)."""

    write_scope = ApiToken.Scope.WRITE
    action = ""

    @extend_schema(
        request=detail(
            "SwarmActionRequest",
            service=serializers.CharField(required=False, help_text="One service (default: every one it fits)"),
            replicas=serializers.IntegerField(
                required=False, min_value=0, max_value=MAX_REPLICAS, help_text="scale: how many (required)"
            ),
        ),
        responses=SWARM_ANSWERS,
        parameters=[WAIT],
    )
    def post(self, request: Request, pk: int) -> Response:
        stack = visible_stacks(request, GitStack.objects.select_related("environment")).filter(pk=pk).first()
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        return swarm_answer(request, stack, self.action)
