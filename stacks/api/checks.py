"""Checks an admin runs by hand: an environment's engine connection, and the "send
test" of notification URLs (a stack's and an environment's)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error
from dockhand.errors import require_superuser
from dockhand.models import ApiToken
from dockhand.openapi import detail
from stacks.api.members import ENVIRONMENT_NOT_FOUND
from stacks.api.views import STACK_NOT_FOUND, visible_stacks
from stacks.models import Environment, GitStack, Membership
from stacks.services.access import require
from stacks.services.environments import environment_engine_check
from stacks.services.notifications import notify_test

NOTIFY_TEST = extend_schema(
    request=None,
    responses={
        200: detail("NotifyDelivered", delivered=serializers.BooleanField()),
        502: detail(
            "NotifyProblems",
            error=serializers.CharField(),
            problems=serializers.ListField(child=serializers.CharField(), help_text="Each URL's problem"),
        ),
    },
)


def _notify_test(**owner: GitStack | Environment) -> Response:
    """notify_test's answer: 200 delivered, 502 with each URL's problem, 400 without URLs."""
    try:
        problems = notify_test(**owner)  # type: ignore[arg-type]
    except ValueError as exc:
        return error(str(exc), status.HTTP_400_BAD_REQUEST, fields={"notifyUrls": [str(exc)]}, cause=exc)
    if problems:
        return Response(
            {"error": "Some notification URLs did not take the message", "problems": problems},
            status=status.HTTP_502_BAD_GATEWAY,
        )
    return Response({"delivered": True})


def _environment(request: Request, pk: int) -> Environment | None:
    """The environment an engine or notification check is for (superusers only)."""
    require_superuser(request.user)
    return Environment.objects.filter(pk=pk).first()


class StackNotifyTest(APIView):
    """POST /api/git/stacks/<id>/notifications/test"""

    write_scope = ApiToken.Scope.ADMIN

    @NOTIFY_TEST
    def post(self, request: Request, pk: int) -> Response:
        stack = visible_stacks(request, GitStack.objects.select_related("environment")).filter(pk=pk).first()
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        require(request.user, stack.environment_id, Membership.Role.ADMIN)
        return _notify_test(stack=stack)


class EnvironmentNotifyTest(APIView):
    """POST /api/environments/<id>/notifications/test"""

    write_scope = ApiToken.Scope.ADMIN

    @NOTIFY_TEST
    def post(self, request: Request, pk: int) -> Response:
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        return _notify_test(environment=environment)


class EnvironmentEngineTest(APIView):
    """POST /api/environments/<id>/test: is its engine reachable, and what does it run."""

    write_scope = ApiToken.Scope.ADMIN

    @extend_schema(
        request=None,
        responses=detail(
            "EngineCheck",
            reachable=serializers.BooleanField(),
            engine=serializers.CharField(allow_null=True, help_text="What the engine runs, when reachable"),
            error=serializers.CharField(allow_null=True),
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        environment = _environment(request, pk)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        reachable, detail = environment_engine_check(environment)
        return Response(
            {"reachable": reachable, "engine": detail if reachable else None, "error": None if reachable else detail}
        )
