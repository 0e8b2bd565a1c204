"""Rollback: redeploy an earlier commit through the one sync pipeline, then pause
automatic syncs until the user resumes them."""

from __future__ import annotations

from typing import Any

from dockhand.audit import record
from dockhand.errors import Conflict
from stacks.models import Deployment, GitStack
from stacks.services.sync import stack_sync


class NothingToRollBack(Conflict):
    """No earlier successful deployment (with a different commit) exists."""

    error_code = "nothing_to_roll_back"


def rollback_target(stack: GitStack, deployment_id: int | None = None, *, automatic: bool = False) -> Deployment:
    """The deployment whose commit a rollback redeploys.

    Given: that one (it must be a successful deploy of this stack). Otherwise the last
    successful deploy before the current one, i.e. of another commit than what runs.
    An automatic rollback (after a failed deploy) returns to what last ran fine.
    """
    good = Deployment.objects.filter(stack=stack, status=Deployment.Status.SUCCESS, deployed=True).exclude(
        commit_sha=""
    )
    if deployment_id is not None:
        chosen = good.filter(pk=deployment_id).first()
        if chosen is None:
            raise NothingToRollBack(f"Deployment {deployment_id} is not a successful deploy of this stack")
        return chosen
    if not automatic:
        good = good.exclude(commit_sha=stack.last_commit)
    chosen = good.order_by("-finished_at", "-id").first()
    if chosen is None:
        raise NothingToRollBack("Nothing to roll back to: no earlier successful deployment of another commit")
    return chosen


def stack_rollback(
    *, stack: GitStack, by: Any, deployment_id: int | None = None, automatic: bool = False
) -> Deployment:
    """Deploy exactly an earlier commit (trigger `rollback`), then pause auto-sync so the
    next push or scheduled sync does not undo it."""
    target = rollback_target(stack, deployment_id, automatic=automatic)
    deployment = stack_sync(stack=stack, trigger=Deployment.Trigger.ROLLBACK, by=by, force=True, target=target)
    stack.record(auto_sync_paused=True)
    record("stack.rollback", stack, f"deployment={deployment.pk} to={target.commit_sha[:12]} automatic={automatic}")
    return deployment


def stack_resume(*, stack: GitStack) -> None:
    """Let webhooks and the schedule sync the stack again."""
    stack.record(auto_sync_paused=False)
    record("stack.resume", stack)
