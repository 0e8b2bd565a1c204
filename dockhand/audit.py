"""The audit trail: services call `record`; entry points say who is acting.

The actor travels in a context variable, set where a request is authenticated (the
session middleware, the bearer-token check) or where a webhook or schedule enters, so
service signatures need not carry it and nothing can forget to pass it on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

from dockhand.models import AuditEvent

_actor: ContextVar[str] = ContextVar("dockhand_actor", default="system")


def current_actor() -> str:
    return _actor.get()


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute everything recorded inside the block to `actor`."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def set_actor(actor: str) -> None:
    """For the rest of this request (the bearer-token check, which runs inside a view)."""
    _actor.set(actor)


def record(action: str, obj: object, detail: str = "") -> None:
    """Add an audit event for the current actor. `detail` must name, not quote, secrets."""
    label = f"{obj.__class__.__name__.lower()}:{getattr(obj, 'pk', '')} {obj}" if not isinstance(obj, str) else obj
    AuditEvent.objects.create(actor=current_actor(), action=action, object=label[:300], detail=detail)


class AuditActorMiddleware:
    """A signed-in user is the actor of everything their request does."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = getattr(request, "user", None)
        actor = f"user:{user.get_username()}" if user is not None and user.is_authenticated else "anonymous"
        with acting_as(actor):
            return self.get_response(request)
