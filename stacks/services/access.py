"""Who may see and do what, per environment (one place for API, pages and sockets)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from dockhand.audit import events_seen_by
from dockhand.errors import Forbidden
from dockhand.models import AuditEvent
from stacks.models import Environment, Membership

_RANK = {Membership.Role.VIEWER: 1, Membership.Role.DEPLOYER: 2, Membership.Role.ADMIN: 3}


def visible_environment_ids(user: Any, token_limit: list[int] | None = None) -> list[int] | None:
    """Environments the caller may see; None means all. A token's own environment
    limit narrows its user's view further."""
    if user is None or not user.is_authenticated:
        return []
    mine = (
        None
        if user.is_superuser
        else list(Membership.objects.filter(user=user).values_list("environment_id", flat=True))
    )
    if token_limit is None:
        return mine
    return token_limit if mine is None else [e for e in mine if e in token_limit]


def visible_environments(user: Any, token_limit: list[int] | None = None) -> QuerySet[Environment]:
    """The environments the caller may see (see visible_environment_ids), as rows."""
    allowed = visible_environment_ids(user, token_limit)
    return Environment.objects.all() if allowed is None else Environment.objects.filter(pk__in=allowed)


def admin_environment_ids(user: Any) -> set[int] | None:
    """Environments where the user is an admin; None means all (an owner)."""
    if user is not None and user.is_superuser:
        return None
    if user is None or not user.is_authenticated:
        return set()
    return set(
        Membership.objects.filter(user=user, role=Membership.Role.ADMIN).values_list("environment_id", flat=True)
    )


def is_admin_of(admin_of: set[int] | None, environment_id: int) -> bool:
    """With `admin_of` from admin_environment_ids: may this user administer it?"""
    return admin_of is None or environment_id in admin_of


def visible_audit_events(user: Any, token_limit: list[int] | None = None) -> QuerySet[AuditEvent]:
    """The audit events the caller may read: an owner all of them; anyone else those about
    the environments they see (who holds which role: their admins only) and their own
    actions, nothing about other environments or the global settings."""
    return events_seen_by(
        user_id=user.pk,
        environment_ids=visible_environment_ids(user, token_limit),
        admin_of=admin_environment_ids(user),
    )


def require(user: Any, environment_id: int, role: str) -> None:
    """Raise Forbidden unless the user holds at least `role` in the environment."""
    if user is not None and user.is_superuser:
        return
    held = Membership.objects.filter(user=user, environment_id=environment_id).values_list("role", flat=True).first()
    if held is None or _RANK[Membership.Role(held)] < _RANK[Membership.Role(role)]:
        raise Forbidden(f"Your role in this environment does not allow this (needs {role})")


def members_environment(*, user: Any, pk: int, token_limit: list[int] | None = None) -> Environment | None:
    """The environment whose members `user` manages: None when they may not see it (a
    404), Forbidden when they see it but are not its admin (nor an owner)."""
    allowed = visible_environment_ids(user, token_limit)
    if allowed is not None and pk not in allowed:
        return None
    environment = Environment.objects.filter(pk=pk).first()
    if environment is not None:
        require(user, environment.pk, Membership.Role.ADMIN)
    return environment


def deploy_needs_approval(user: Any, environment: Environment) -> bool:
    """May this caller deploy to the environment now? False: yes; True: only once an
    admin approves. Raises Forbidden when it may not deploy at all.

    `user` None is an automatic trigger (a webhook or schedule that a stack admin set
    up): it deploys unless the environment is locked or asks for approval.
    """
    if user is not None and user.is_superuser:
        return False  # owners deploy everywhere, locked or not
    if environment.protection == Environment.Protection.LOCKED:
        raise Forbidden(f"Environment {environment.name} is locked: only an owner deploys to it")
    if user is None:
        return environment.approval_required
    membership = Membership.objects.filter(user=user, environment=environment).first()
    if membership is None or _RANK[Membership.Role(membership.role)] < _RANK[Membership.Role.DEPLOYER]:
        raise Forbidden("Your role in this environment does not allow this (needs deployer)")
    is_admin = membership.role == Membership.Role.ADMIN
    restricted = environment.protection == Environment.Protection.RESTRICTED
    if restricted and not (is_admin or membership.allowlisted):
        raise Forbidden(f"Environment {environment.name} is restricted: only its admins and allowlisted members deploy")
    return environment.approval_required and not is_admin


def require_operate(user: Any, environment: Environment) -> None:
    """Raise Forbidden unless `user` may start, stop, restart or take down stacks here:
    whoever deploys without approval (in a protected environment, only its admins)."""
    if deploy_needs_approval(user, environment):
        raise Forbidden("In this environment only its admins start, stop or take down stacks")


def may_review(user: Any, environment: Environment) -> bool:
    """Whether `user` approves and rejects deploys here: whoever deploys without approval."""
    try:
        return not deploy_needs_approval(user, environment)
    except Forbidden:
        return False
