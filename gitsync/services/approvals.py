"""Deploys waiting for approval in a protected environment: an admin approves (the
deploy takes the stack's lock and is queued) or rejects (it ends cancelled)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from dockhand.audit import current_actor, record
from dockhand.errors import Conflict
from gitsync.services.sync import hand_to_worker, take_lock
from stacks.models import Deployment
from stacks.services.access import Forbidden, deploy_needs_approval
from stacks.services.output import wake_viewers

NOT_PENDING = "This deployment is not waiting for approval"


def deployment_approve(*, deployment: Deployment, by: Any) -> Deployment:
    """Raises Forbidden unless `by` could deploy here without approval, Conflict when
    the deployment no longer waits, StackBusy (approval undone) while another sync runs.
    """
    stack = deployment.live_stack()
    if deploy_needs_approval(by, stack.environment):
        raise Forbidden("Only an admin of this environment approves deploys")
    with transaction.atomic():
        approved = Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.PENDING_APPROVAL).update(
            status=Deployment.Status.QUEUED, reviewed_by=current_actor()
        )
        if not approved:
            raise Conflict(NOT_PENDING)
        take_lock(stack, deployment)
    record("deployment.approve", deployment, f"stack={stack.pk}")
    return hand_to_worker(stack, deployment)


def deployment_reject(*, deployment: Deployment, by: Any, reason: str = "") -> Deployment:
    """The deployment ends `cancelled`, saying who rejected it and why."""
    if deploy_needs_approval(by, deployment.live_stack().environment):
        raise Forbidden("Only an admin of this environment rejects deploys")
    actor = current_actor()
    error = f"Rejected by {actor}" + (f": {reason}" if reason else "")
    if not Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.PENDING_APPROVAL).update(
        status=Deployment.Status.CANCELLED, error=error, reviewed_by=actor, finished_at=timezone.now()
    ):
        raise Conflict(NOT_PENDING)
    record("deployment.reject", deployment, f"stack={deployment.stack_id}")
    deployment.refresh_from_db()
    wake_viewers(deployment.pk)
    return deployment
