"""What a user may do on a stack or a deployment, for the pages to offer only that.

Every answer is asked of `access.py` by calling its rules (the ones the services call
before they act), never by restating them: a page and the service it posts to cannot
disagree. An action the user's role does not allow is hidden; one the role allows but
the environment's protection refuses (locked, restricted, approval) is shown disabled,
with the reason the service would give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockhand.errors import Forbidden
from stacks.models import Deployment, Environment, GitStack, Membership
from stacks.services.access import (
    admin_environment_ids,
    deploy_needs_approval,
    may_review,
    require,
    require_operate,
)


@dataclass(frozen=True)
class Ability:
    """One action for one user: offered at all (`shown`), usable (`allowed`), and why not."""

    shown: bool
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Ability(shown=True, allowed=True)
HIDDEN = Ability(shown=False, allowed=False)


def _ability(user: Any, environment_id: int, role: str, check: Callable[[], object] | None = None) -> Ability:
    """Hidden below `role`; with the role, whatever `check` (an access rule that raises
    Forbidden) says about this environment."""
    try:
        require(user, environment_id, role)
    except Forbidden:
        return HIDDEN
    try:
        if check is not None:
            check()
    except Forbidden as exc:
        return Ability(shown=True, allowed=False, reason=str(exc))
    return ALLOWED


@dataclass(frozen=True)
class StackAbilities:
    """What a user may do on one stack."""

    deploy: Ability  # sync, force redeploy, roll back (they all end in stack_sync)
    deploy_waits: bool  # allowed, but the deploy waits for an admin's approval
    operate: Ability  # start, stop, restart, down
    administer: Ability  # edit, delete, overrides, resume auto-sync, notification test


def stack_abilities(user: Any, stack: GitStack) -> StackAbilities:
    environment = stack.environment
    waits: list[bool] = []
    deploy = _ability(
        user,
        environment.pk,
        Membership.Role.DEPLOYER,
        lambda: waits.append(deploy_needs_approval(user, environment)),
    )
    return StackAbilities(
        deploy=deploy,
        deploy_waits=any(waits),
        operate=_ability(user, environment.pk, Membership.Role.DEPLOYER, lambda: require_operate(user, environment)),
        administer=_ability(user, environment.pk, Membership.Role.ADMIN),
    )


@dataclass(frozen=True)
class DeploymentAbilities:
    """What a user may do on one deployment."""

    cancel: Ability
    review: bool  # approve or reject one that waits


def deployment_abilities(user: Any, deployment: Deployment) -> DeploymentAbilities:
    stack = deployment.stack
    if stack is None:  # the stack was deleted: its history is only read
        return DeploymentAbilities(cancel=HIDDEN, review=False)
    return DeploymentAbilities(
        cancel=_ability(user, stack.environment_id, Membership.Role.DEPLOYER),
        review=may_review(user, stack.environment),
    )


def may_add_stacks(user: Any) -> bool:
    """Whether the user administers an environment, where a new stack could go."""
    admin_of = admin_environment_ids(user)
    return admin_of is None or bool(admin_of)


def stack_environments(user: Any) -> Any:
    """The environments a stack of this user's may be created in or moved to."""
    admin_of = admin_environment_ids(user)
    environments = Environment.objects.all()
    return environments if admin_of is None else environments.filter(pk__in=admin_of)
