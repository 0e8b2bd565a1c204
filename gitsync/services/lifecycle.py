"""Rollback, cancel and the stack operations (start / stop / restart / down), through
the one sync pipeline and the one stack lock."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from dockhand.audit import current_actor, record
from dockhand.errors import Conflict
from gitsync.services.sync import operation_lock, release_lock, stack_sync
from stacks import compose, engine, swarm
from stacks.models import Deployment, GitStack, Membership
from stacks.services.access import Forbidden, deploy_needs_approval, require
from stacks.services.output import DeploymentOutput, wake_viewers
from stacks.services.status import stack_workloads


class NothingToRollBack(Conflict):
    """No earlier successful deployment (with a different commit) exists."""


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
    GitStack.objects.filter(pk=stack.pk).update(auto_sync_paused=True)
    stack.auto_sync_paused = True
    record("stack.rollback", stack, f"deployment={deployment.pk} to={target.commit_sha[:12]} automatic={automatic}")
    return deployment


def stack_resume(*, stack: GitStack) -> None:
    """Let webhooks and the schedule sync the stack again."""
    GitStack.objects.filter(pk=stack.pk).update(auto_sync_paused=False)
    stack.auto_sync_paused = False
    record("stack.resume", stack)


def deployment_cancel(*, deployment: Deployment, by: Any) -> Deployment:
    """Cancel a pending, queued or running deployment.

    Not yet running: it ends `cancelled` at once and gives the stack's lock back.
    Running: the worker is told (within half a second); it stops compose's process
    group (SIGTERM, then SIGKILL after CANCEL_GRACE) and ends the deployment itself.
    """
    stack = deployment.live_stack()
    require(by, stack.environment_id, Membership.Role.DEPLOYER)
    actor = current_actor()
    message = f"Cancelled by {actor}"
    waiting = (Deployment.Status.QUEUED, Deployment.Status.PENDING_APPROVAL)
    if Deployment.objects.filter(pk=deployment.pk, status__in=waiting).update(
        status=Deployment.Status.CANCELLED, error=message, cancel_requested_by=actor, finished_at=timezone.now()
    ):
        DeploymentOutput(deployment, []).line(message)
        release_lock(stack, deployment.pk, ok=False, error=message)
        wake_viewers(deployment.pk)
    elif not Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.RUNNING).update(
        cancel_requested_by=actor
    ):
        raise Conflict("Only a queued or running deployment can be cancelled")
    record("deployment.cancel", deployment, f"stack={deployment.stack_id}")
    deployment.refresh_from_db()
    return deployment


OPERATIONS = {
    "start": ["start"],
    "stop": ["stop"],
    "restart": ["restart"],
}


def stack_operate(*, stack: GitStack, operation: str, by: Any, volumes: bool = False, images: bool = False) -> str:
    """start / stop / restart / down; returns compose's output.

    A stack stopped or taken down stays so: syncs record that and do not redeploy it
    until it is started again. Starting a stack that was taken down redeploys it. In a
    protected environment only those who deploy without approval operate stacks.
    """
    if deploy_needs_approval(by, stack.environment):
        raise Forbidden("In this environment only its admins start, stop or take down stacks")
    timeout = stack.compose_timeout or settings.DEPLOY_TIMEOUT
    endpoint = stack.environment.engine_endpoint()
    on_swarm = stack.environment.swarm
    if on_swarm and operation in ("stop", "restart"):
        raise Conflict(
            f"A swarm stack is not {operation}ed: the swarm keeps its replicas running; take it down instead"
        )
    lines: list[str] = []
    if operation == "start" and not _has_containers(stack):
        GitStack.objects.filter(pk=stack.pk).update(stopped_by_user=False)
        stack.stopped_by_user = False
        record("stack.start", stack, "no containers: redeploying")
        deployment = stack_sync(stack=stack, trigger=Deployment.Trigger.MANUAL, by=by, force=True)
        return f"No containers to start: deployment {deployment.pk} redeploys the stack"
    if on_swarm and operation == "start":
        return "The swarm already runs the stack's services"
    command = OPERATIONS.get(operation)
    if command is None:  # down
        command = (
            ["down", "--remove-orphans"] + (["--volumes"] if volumes else []) + (["--rmi", "all"] if images else [])
        )
    with operation_lock(stack, timeout), engine.cli_env(endpoint) as engine_env:
        env = compose.process_env(engine_env=engine_env)
        if on_swarm:  # down: `docker stack rm` (volumes stay on the nodes that hold them)
            swarm.remove(stack.project_name, env=env, on_line=lines.append, timeout=timeout)
        else:
            compose.operate(stack.project_name, command, env=env, on_line=lines.append, timeout=timeout)
        stopped = operation in ("stop", "down")
        GitStack.objects.filter(pk=stack.pk).update(stopped_by_user=stopped)
        stack.stopped_by_user = stopped
    record(f"stack.{operation}", stack, f"volumes={volumes} images={images}" if operation == "down" else "")
    return "\n".join(lines)


def _has_containers(stack: GitStack) -> bool:
    try:
        return bool(stack_workloads(stack))
    except engine.EngineError:
        return True  # let compose report the engine problem
