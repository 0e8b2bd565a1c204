"""Fixed-window rate limits kept in the shared cache (file cache by default, Redis in
scale-out mode), with the X-RateLimit-* headers clients expect."""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse


def _clock() -> float:
    """Seconds since the epoch (a seam: tests pin it inside one window)."""
    return time.time()


@dataclass(frozen=True)
class State:
    """Where a key stands in its current window."""

    limit: int
    used: int
    reset: int  # epoch seconds when the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(_clock()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


def _window(name: str, key: str) -> tuple[str, int, int]:
    count, seconds = settings.RATE_LIMITS[name]
    start = int(_clock()) // seconds * seconds
    # Hashed: keys hold addresses and names, which some cache backends refuse.
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"ratelimit:{name}:{digest}:{start}", count, start + seconds


def peek(name: str, key: str) -> State:
    """The current state, without counting anything."""
    cache_key, limit, reset = _window(name, key)
    return State(limit, int(cache.get(cache_key, 0)), reset)


def hit(name: str, key: str) -> State:
    """Count one event against the limit and return the new state."""
    cache_key, limit, reset = _window(name, key)
    cache.add(cache_key, 0, timeout=reset - int(_clock()) + 5)
    try:
        used = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=5)
        used = 1
    return State(limit, int(used), reset)


def trusted_proxy(address: str) -> bool:
    """The address is one of DOCKHAND_TRUSTED_PROXIES."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The client's address: the direct peer, unless that peer is a trusted proxy.

    Then X-Forwarded-For is read from the right (each proxy appends the address it
    saw), skipping trusted hops: entries left of the first untrusted one could have
    been written by the client itself, so they are never believed.
    """
    address = str(request.META.get("REMOTE_ADDR") or "unknown")
    if not trusted_proxy(address):
        return address
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed chain: count it against the proxy itself
        address = hop
        if not trusted_proxy(hop):
            break
    return address


def too_many(state: State, message: str) -> JsonResponse:
    """A 429 in the API's error shape, with Retry-After and the limit headers."""
    response = JsonResponse({"error": message, "code": "rate_limited"}, status=429)
    response["Retry-After"] = str(state.retry_after)
    for name, value in state.headers().items():
        response[name] = value
    return response


class RateLimitHeadersMiddleware:
    """Copies a request's rate-limit state (set by the token check) onto its response."""

    def __init__(self, get_response: object) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.get_response(request)  # type: ignore[operator]
        state = getattr(request, "dockhand_ratelimit", None)
        if isinstance(state, State):
            for name, value in state.headers().items():
                response.setdefault(name, value)
        return response
