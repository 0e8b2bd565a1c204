"""Dockhand-compatible reads (Step 16): the version and the system it runs on, and the
notification channels, under the names Dockhand's own clients ask for."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

import django
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand import notifier
from dockhand.openapi import detail
from dockhand.tokens import token_environment_ids
from stacks.models import GitStack
from stacks.services.access import visible_environments
from stacks.services.environments import engines_check


def version() -> str:
    try:
        return metadata.version("dockhand")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class SystemVersion(APIView):
    """GET /api/system/version"""

    @extend_schema(
        responses=detail("SystemVersion", name=serializers.CharField(), version=serializers.CharField()),
        summary="Get the version",
    )
    def get(self, request: Request) -> Response:
        return Response({"name": "dockhand", "version": version()})


class SystemInfo(APIView):
    """GET /api/system: the version, what it runs on, and each engine the caller sees."""

    @extend_schema(
        responses=detail(
            "SystemInfo",
            name=serializers.CharField(),
            version=serializers.CharField(),
            runtime=detail("SystemRuntime", python=serializers.CharField(), django=serializers.CharField()),
            database=serializers.CharField(help_text="The database's vendor: sqlite or postgresql"),
            environments=detail(
                "SystemEngine",
                id=serializers.IntegerField(),
                name=serializers.CharField(),
                reachable=serializers.BooleanField(),
                engine=serializers.CharField(allow_null=True, help_text="What the engine runs, when reachable"),
                many=True,
            ),
        ),
        summary="Get the system and its engines",
    )
    def get(self, request: Request) -> Response:
        environments = visible_environments(request.user, token_environment_ids(request))
        engines = engines_check(environments)
        return Response(
            {
                "name": "dockhand",
                "version": version(),
                "runtime": {"python": platform.python_version(), "django": django.get_version()},
                "database": connection.vendor,
                "environments": [
                    {"id": env.pk, "name": env.name, "reachable": ok, "engine": said if ok else None}
                    for env, (ok, said) in engines.items()
                ],
            }
        )


def _channel(kind: str, owner: Any, environment_id: int) -> dict[str, Any]:
    """One owner's notification channel; its Apprise URLs carry tokens, so only their
    scheme and host are shown (as `notifyTargets` shows them)."""
    return {
        "id": f"{kind}:{owner.pk}",
        "type": "apprise",
        "scope": kind,
        "name": owner.name,
        "enabled": True,
        "environmentId": environment_id,
        "stackId": owner.pk if kind == "stack" else None,
        "config": {"urls": [notifier.shown(url) for url in owner.notify_urls.splitlines() if url.strip()]},
        "eventTypes": list(owner.notify_events),
    }


class NotificationList(APIView):
    """GET /api/notifications (Dockhand's): the notification channels of the
    environments and stacks the caller sees, URLs masked."""

    lists = True  # an array of channels (dockhand.openapi)

    @extend_schema(
        responses=detail(
            "NotificationChannel",
            id=serializers.CharField(help_text="`environment:<id>` or `stack:<id>`"),
            type=serializers.ChoiceField(choices=["apprise"]),
            scope=serializers.ChoiceField(choices=["environment", "stack"]),
            name=serializers.CharField(),
            enabled=serializers.BooleanField(),
            environmentId=serializers.IntegerField(),
            stackId=serializers.IntegerField(allow_null=True),
            config=detail(
                "NotificationConfig",
                urls=serializers.ListField(child=serializers.CharField(), help_text="Scheme and host only"),
            ),
            eventTypes=serializers.ListField(child=serializers.CharField()),
        )
    )
    def get(self, request: Request) -> Response:
        environments = list(visible_environments(request.user, token_environment_ids(request)).order_by("name"))
        channels = [_channel("environment", env, env.pk) for env in environments if env.notify_urls.strip()]
        stacks = GitStack.objects.filter(environment__in=environments).order_by("name")
        channels += [_channel("stack", stack, stack.environment_id) for stack in stacks if stack.notify_urls.strip()]
        return Response(channels)
