"""django-q2 task entry points: they take ids and delegate to services."""

from __future__ import annotations

from dockhand.audit import acting_as, record
from gitsync.services.runner import deployment_run
from gitsync.services.sync import auto_sync_refusal, stack_sync_coalesced
from stacks.models import Deployment, GitStack


def run_deployment(deployment_id: int) -> str:
    """Run one queued deployment; returns its final status for the task record."""
    return deployment_run(deployment_id=deployment_id).status


def scheduled_sync(stack_id: int, head: str | None = None) -> str:
    """A stack's auto-update schedule fired: sync, or join the follow-up of a running one.
    `head`: the branch head the clock just read for this stack (None: read it here)."""
    stack = GitStack.objects.filter(pk=stack_id, auto_update=True).first()
    if stack is None:
        return "no such stack with autoUpdate"
    with acting_as("schedule"):
        refusal = auto_sync_refusal(stack)
        if refusal:
            record("stack.sync_refused", stack, refusal)
            return refusal
        deployment = stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.SCHEDULE, check_here=True, head=head)
    return f"deployment {deployment.pk}" if deployment else "follow-up pending"
