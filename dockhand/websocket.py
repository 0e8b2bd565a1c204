"""WebSocket hardening shared by all socket routes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def same_origin(origin: str, host: str) -> bool:
    """The page opening the socket is served by this host (or a trusted origin), under
    a host name this server answers to (a DNS-rebound name is refused, as for HTTP)."""
    if not origin or not host or not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        return False
    return urlsplit(origin).netloc == host or origin in settings.CSRF_TRUSTED_ORIGINS


class SameOriginValidator:
    """Refuse sockets opened by pages of other sites. ALLOWED_HOSTS may be "*" for
    self-hosters, so Channels' host-list validator would accept any origin."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if not same_origin(origin, host):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)
