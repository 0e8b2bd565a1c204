"""What people do to one deployment: approve or reject a deploy that waits for an
admin, cancel one that waits or runs. Each is a transition of the Deployment model."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from dockhand.audit import current_actor, record
from dockhand.errors import Conflict, Forbidden, require_superuser
from stacks.models import Deployment, Membership
from stacks.services.access import deploy_needs_approval, require
from stacks.services.lock import SyncOutcome, lock_release, lock_take_for
from stacks.services.output import DeploymentOutput, wake_viewers
from stacks.services.sync import hand_to_worker

NOT_PENDING = "This deployment is not waiting for approval"


class DeploymentActive(Conflict):
    """A deployment that waits or runs is not deleted: cancel it first (answered 409)."""

    error_code = "deployment_active"


class DeploymentApplied(Conflict):
    """The deployment whose deploy runs now is kept: the applied commit, the stack's
    applied page and the next rollback's starting point are read from it (409)."""

    error_code = "deployment_applied"


def deployment_approve(*, deployment: Deployment, by: Any) -> Deployment:
    """The deploy takes the stack's lock and is queued. Raises Forbidden unless `by`
    could deploy here without approval, Conflict when the deployment no longer waits,
    StackBusy (approval undone) while another sync runs."""
    stack = deployment.live_stack()
    if deploy_needs_approval(by, stack.environment):
        raise Forbidden("Only an admin of this environment approves deploys")
    with transaction.atomic():
        if not deployment.approve(by=current_actor()):
            raise Conflict(NOT_PENDING)
        lock_take_for(stack, deployment)
    record("deployment.approve", deployment, f"stack={stack.pk}")
    wake_viewers(deployment.pk)
    return hand_to_worker(stack, deployment)


def deployment_reject(*, deployment: Deployment, by: Any, reason: str = "") -> Deployment:
    """The deployment ends `cancelled`, saying who rejected it and why."""
    if deploy_needs_approval(by, deployment.live_stack().environment):
        raise Forbidden("Only an admin of this environment rejects deploys")
    if not deployment.reject(by=current_actor(), reason=reason):
        raise Conflict(NOT_PENDING)
    record("deployment.reject", deployment, f"stack={deployment.stack_id}")
    deployment.refresh_from_db()
    wake_viewers(deployment.pk)
    return deployment


def deployment_cancel(*, deployment: Deployment, by: Any) -> Deployment:
    """Cancel a pending, queued or running deployment.

    Not yet running: it ends `cancelled` at once and gives the stack's lock back.
    Running: the worker is told (within half a second); it stops compose's process
    group (SIGTERM, then SIGKILL after CANCEL_GRACE) and ends the deployment itself.
    """
    stack = deployment.live_stack()
    require(by, stack.environment_id, Membership.Role.DEPLOYER)
    actor = current_actor()
    if deployment.cancel_waiting(by=actor):
        DeploymentOutput(deployment, []).line(deployment.error)
        lock_release(stack, deployment.pk, SyncOutcome(ok=False, error=deployment.error))
    elif not deployment.ask_to_cancel(by=actor):
        raise Conflict("Only a queued or running deployment can be cancelled")
    wake_viewers(deployment.pk)  # ended, or asked to end: either way their Cancel goes
    record("deployment.cancel", deployment, f"stack={deployment.stack_id}")
    deployment.refresh_from_db()
    return deployment


def deployment_delete(*, deployment: Deployment, by: Any) -> None:
    """Remove a finished deployment (and its output) from the history; the audit log
    keeps that it was, and who removed it. Admins of its environment (owners, once its
    stack is gone).

    What pointed at it is left whole: a rollback or a retry that named it keeps its own
    row (the link is cleared), a webhook delivery that started it too; the stack's lock
    is never held by a finished deployment, and the one whose deploy runs now is refused
    (DeploymentApplied)."""
    stack = deployment.stack
    if stack is None:
        require_superuser(by)
    else:
        require(by, stack.environment_id, Membership.Role.ADMIN)
        applied = Deployment.applied_of(stack)
        if applied is not None and applied.pk == deployment.pk:
            raise DeploymentApplied(
                f"Deployment #{deployment.number} applied what runs now; deploy or roll back first to remove it"
            )
    name = stack.name if stack is not None else deployment.stack_name
    what = f"#{deployment.number} of {name} ({deployment.status}, {deployment.commit_sha[:12]})"
    with transaction.atomic():
        # One conditional DELETE: a deployment that is (again) waiting or running, or
        # holds its stack's lock, stays.
        finished = Deployment.objects.filter(pk=deployment.pk, status__in=Deployment.FINISHED)
        if stack is not None:
            finished = finished.exclude(stack__lock_owner=deployment.pk)
        if not finished.delete()[0]:
            raise DeploymentActive(f"Deployment #{deployment.number} is {deployment.status}: cancel it first")
        record("deployment.delete", deployment, what)
