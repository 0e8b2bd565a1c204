"""Environments: saving and deleting (shared by the API and the pages)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.core.cache import cache
from django.db.models import QuerySet

from dockhand.audit import record
from dockhand.errors import InUse
from stacks import engine
from stacks.models import Environment, Membership


def environment_engine_check(environment: Environment) -> tuple[bool, str]:
    """(reachable, what it runs or why not) for the environment's Docker engine."""
    try:
        return True, engine.ping(environment.engine_endpoint())
    except engine.EngineError as exc:
        return False, str(exc)


# How long /api/health reuses what another environment's engine answered. A monitor
# polls health every few seconds, and for an ssh:// engine each look is an ssh login (a
# TLS handshake for tcp://). The `local` engine is asked every time: it is the node's
# own health. "Test connection" always asks.
OTHER_ENGINES_SECONDS = 15


def _checked(environment: Environment) -> tuple[bool, str]:
    if environment.name == "local":
        return environment_engine_check(environment)
    key = f"engine-check:{environment.pk}:{environment.docker_host}"
    checked = cache.get_or_set(key, lambda: environment_engine_check(environment), OTHER_ENGINES_SECONDS)
    return cast(tuple[bool, str], checked)


def engines_check(environments: Iterable[Environment]) -> dict[Environment, tuple[bool, str]]:
    """The engines of `environments` (see OTHER_ENGINES_SECONDS), side by side (an
    unreachable remote engine costs its timeout once, not once per environment)."""
    environments = sorted(environments, key=lambda env: env.name)
    if len(environments) <= 1:  # no threads for the common case of one engine
        return {env: _checked(env) for env in environments}
    with ThreadPoolExecutor(min(8, len(environments))) as pool:
        found = pool.map(_checked, environments)
        return dict(zip(environments, found, strict=True))


def environment_save(*, environment: Environment | None, fields: dict[str, Any]) -> Environment:
    environment = environment or Environment()
    for name, value in fields.items():
        setattr(environment, name, value)
    environment.save()
    # Field names only: the TLS key and the notification URLs are among the values, and
    # an environment's members read its events.
    record("environment.save", environment, "changed: " + ", ".join(sorted(fields)))
    return environment


def environment_delete(*, environment: Environment) -> None:
    if environment.name == "local":
        raise InUse("The local environment cannot be deleted")
    names = list(environment.stacks.values_list("name", flat=True)[:5])
    if names:
        raise InUse(f"Environment is used by stacks: {', '.join(names)}")
    record("environment.delete", environment)
    environment.delete()


def environment_members(environment: Environment) -> QuerySet[Membership]:
    """An environment's members, by username."""
    return environment.memberships.select_related("user").order_by("user__username")


def membership_save(*, environment: Environment, user: Any, role: str, allowlisted: bool) -> Membership:
    """Give `user` a role in the environment (or change it)."""
    membership, _ = Membership.objects.update_or_create(
        environment=environment, user=user, defaults={"role": role, "allowlisted": allowlisted}
    )
    record("membership.save", environment, f"user={user.get_username()} role={role} allowlisted={allowlisted}")
    return membership


def membership_delete(*, membership: Membership) -> None:
    record("membership.delete", membership.environment, f"user={membership.user.get_username()}")
    membership.delete()
