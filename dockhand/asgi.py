"""ASGI entry point (Daphne): HTTP, and the WebSockets (live output, container logs) with session auth;
under `serve`, also the auto-sync clock."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockhand.settings")

import django

django.setup(set_prefix=False)  # before the routes below import models

from django.conf import settings  # noqa: E402

from dockhand import bodylimit  # noqa: E402

# Before Daphne builds its server: bodies over the limit are refused before they are read.
bodylimit.install(settings.MAX_BODY_BYTES)

from asgiref.sync import sync_to_async  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.http import HttpRequest, HttpResponseBase  # noqa: E402


class OneThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler, with each request's middleware chain and view run in one
    worker thread, in one hop.

    Every middleware and view of the product is synchronous. The stock handler loads
    the chain in async mode, so a request went event loop → thread (the sync chain) →
    event loop (an async-capable middleware, the async response path) → thread (the
    view): about 3 ms of a 2-core machine per request, four times what the request
    itself costs (benchmark #4). The thread is still one per request, as before.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django_asgi = OneThreadASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from dockhand.websocket import SameOriginValidator  # noqa: E402
from stacks.consumers import ContainerLogConsumer, DeploymentOutputConsumer  # noqa: E402

websocket_routes = [
    path("ws/deployments/<int:pk>/", DeploymentOutputConsumer.as_asgi()),
    path("ws/stacks/<int:pk>/containers/<str:ref>/logs/", ContainerLogConsumer.as_asgi()),
]

if os.environ.get("DOCKHAND_RUN_CLOCK") == "1":  # set by `serve` for its web process
    from stacks.services.clock import start_clock

    start_clock()

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        # Origin check: a page on another site must not ride the user's session cookie.
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_routes))),
    }
)

# The garbage collector, tuned for a server: everything loaded so far (Django, the
# apps, ~150,000 objects) lives as long as the process, so it is frozen out of the
# collections; and a young collection waits for 50,000 new objects instead of 700,
# so most of a request's objects are gone (freed as their last use ends) before any
# collection looks at them. With the defaults, listing 1,000 stacks ran a young
# collection every 700 allocations and a full one every few lists, over the whole
# heap: about a quarter of the list's time, and of a 10-stack list's (benchmark #5).
gc.freeze()
gc.set_threshold(50_000, 10, 10)
