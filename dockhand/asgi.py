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

import asyncio  # noqa: E402
import contextvars  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import IO, Any  # noqa: E402

from asgiref.sync import sync_to_async  # noqa: E402
from django.core import signals  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.db import connections  # noqa: E402
from django.http import HttpRequest, HttpResponseBase  # noqa: E402
from django.urls import set_script_prefix  # noqa: E402

from dockhand import lanes  # noqa: E402


class OneThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler, with each request's middleware chain and view run in one
    worker thread, in one hop; the views marked quick in the quick lane's pool
    (dockhand/lanes.py), the others in a thread of their own.

    Every middleware and view of the product is synchronous. The stock handler loads
    the chain in async mode, so a request went event loop → thread (the sync chain) →
    event loop (an async-capable middleware, the async response path) → thread (the
    view): about 3 ms of a 2-core machine per request, four times what the request
    itself costs (benchmark #4).
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not lanes.is_quick(scope):
            await super().handle(scope, receive, send)
            return
        try:
            body = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        loop = asyncio.get_running_loop()
        # In a copy of this request's context, as a thread of its own would run it: the
        # pool's threads are reused, and what one request set must not reach the next.
        context = contextvars.copy_context()
        response = await loop.run_in_executor(_quick, context.run, self._quick, scope, body)
        try:
            await self.send_response(response, send)
        finally:
            if response.streaming:
                await loop.run_in_executor(_quick, context.run, response.close)

    def _quick(self, scope: dict[str, Any], body: IO[bytes]) -> HttpResponseBase:
        """One request of the quick lane, whole, in a thread of its pool: the
        signals that open and close its database connections run in that thread."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        try:
            request, error = self.create_request(scope, body)
            response = self.get_response(request) if request is not None else error
            assert response is not None  # create_request gives a request or an error answer
            response._handler_class = self.__class__  # type: ignore[attr-defined]
        finally:
            body.close()
        # The pool's threads live as long as the process: their database connections
        # are kept for the next request (opening one costs more than a push's writes).
        # The other threads are new per request and close theirs (CONN_MAX_AGE=0).
        keep = time.monotonic() + _KEEP_CONNECTION
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None and connection.close_at is not None:
                connection.close_at = max(connection.close_at, keep)
        if not response.streaming:
            response.close()  # the body is in memory; this ends the request (its signal)
        return response


_KEEP_CONNECTION = 60.0
_quick = ThreadPoolExecutor(max_workers=settings.QUICK_THREADS, thread_name_prefix="quick")


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
