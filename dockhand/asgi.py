"""ASGI entry point (Daphne): HTTP, and the live-output WebSocket with session auth;
under `serve`, also the auto-sync clock."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockhand.settings")

from django.core.asgi import get_asgi_application

django_asgi = get_asgi_application()  # sets Django up before the routes import models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from dockhand.websocket import SameOriginValidator  # noqa: E402
from stacks.consumers import DeploymentOutputConsumer  # noqa: E402

websocket_routes = [path("ws/deployments/<int:pk>/", DeploymentOutputConsumer.as_asgi())]

if os.environ.get("DOCKHAND_RUN_CLOCK") == "1":  # set by `serve` for its web process
    from gitsync.services.schedules import start_clock

    start_clock()

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        # Origin check: a page on another site must not ride the user's session cookie.
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_routes))),
    }
)
