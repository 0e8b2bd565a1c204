"""The audit trail: services call `record`; entry points say who is acting.

The actor travels in a context variable, set where a request is authenticated (the
session middleware, the bearer-token check) or where a webhook or schedule enters, so
service signatures need not carry it and nothing can forget to pass it on.

Each event keeps the environment its object belongs to and the person who acted, so a
reader is shown what is theirs to see (`events_seen_by`) without the trail knowing
what an environment is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse

from dockhand.models import AuditEvent

# Who holds which role is shown to an environment's admins only, as its member list is.
ADMIN_ONLY_PREFIX = "membership."


@dataclass(frozen=True)
class _Actor:
    label: str
    user_id: int | None = None


_SYSTEM = _Actor("system")
_actor: ContextVar[_Actor] = ContextVar("dockhand_actor", default=_SYSTEM)


def current_actor() -> str:
    return _actor.get().label


def _of(actor: str, user: Any) -> _Actor:
    return _Actor(actor, user.pk if user is not None and user.is_authenticated else None)


@contextmanager
def acting_as(actor: str, *, user: Any = None) -> Iterator[None]:
    """Attribute everything recorded inside the block to `actor` (and the person `user`)."""
    token = _actor.set(_of(actor, user))
    try:
        yield
    finally:
        _actor.reset(token)


def set_actor(actor: str, *, user: Any = None) -> None:
    """For the rest of this request (the bearer-token check, which runs inside a view)."""
    _actor.set(_of(actor, user))


def record(action: str, obj: object, detail: str = "") -> None:
    """Add an audit event for the current actor. `detail` must name, not quote, secrets.

    An object that belongs to an environment says which by `audit_environment_id`
    (stacks, deployments, environments); readers of that environment see the event."""
    label = f"{obj.__class__.__name__.lower()}:{getattr(obj, 'pk', '')} {obj}" if not isinstance(obj, str) else obj
    actor = _actor.get()
    AuditEvent.objects.create(
        actor=actor.label,
        actor_user_id=actor.user_id,
        environment_id=getattr(obj, "audit_environment_id", None),
        action=action,
        object=label[:300],
        detail=detail,
    )


def record_each(action: str, objs: Collection[Any], detail: Callable[[Any], str]) -> None:
    """`record` for many objects in one INSERT (the clock's checks of thousands of stacks)."""
    actor = _actor.get()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor=actor.label,
            actor_user_id=actor.user_id,
            environment_id=getattr(obj, "audit_environment_id", None),
            action=action,
            object=f"{obj.__class__.__name__.lower()}:{obj.pk} {obj}"[:300],
            detail=detail(obj),
        )
        for obj in objs
    )


def events_seen_by(
    *, user_id: int, environment_ids: Collection[int] | None, admin_of: Collection[int] | None
) -> QuerySet[AuditEvent]:
    """The events a reader may see: with `environment_ids` None (an owner), all; else the
    events about those environments (membership changes only where `admin_of` says the
    reader administers it, None: everywhere) and the reader's own actions, within the
    same environments or about none."""
    if environment_ids is None:
        return AuditEvent.objects.all()
    admin_in = list(environment_ids) if admin_of is None else [e for e in environment_ids if e in admin_of]
    about_theirs = Q(environment_id__in=environment_ids) & ~Q(action__startswith=ADMIN_ONLY_PREFIX)
    administered = Q(environment_id__in=admin_in, action__startswith=ADMIN_ONLY_PREFIX)
    own = Q(actor_user_id=user_id) & (Q(environment_id__isnull=True) | Q(environment_id__in=environment_ids))
    return AuditEvent.objects.filter(about_theirs | administered | own)


class AuditActorMiddleware:
    """A signed-in user is the actor of everything their request does."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        with acting_as(f"user:{user.get_username()}" if signed_in else "anonymous", user=user if signed_in else None):
            return self.get_response(request)
