"""The sync pipeline (spec §4): one path for the API, the page, webhooks and schedules.

`stack_sync` takes the stack's lock and queues a deployment; the worker runs it
(`runner.deployment_run`); `deployment_wait` lets a caller block until it has finished.
The stack lock lives here: taken, handed over to a follow-up, released, abandoned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from dockhand.audit import current_actor, record
from stacks.models import Deployment, GitStack
from stacks.services.access import Forbidden, deploy_needs_approval

log = logging.getLogger(__name__)

# While a sync runs its lock is renewed every HEARTBEAT; a worker that dies stops
# renewing and the lock can be taken back once LOCK_LEASE has passed.
LOCK_LEASE = timedelta(seconds=120)
HEARTBEAT = 30.0
BUSY_MESSAGE = "Stack is already syncing. Please wait for the current operation to complete."
WORKER_LOST = "The worker running this sync stopped before it finished."
# Seconds between looks at a deployment someone waits for: often at first (most
# deploys are short, and each step is latency added to the answer), then less.
WAIT_STEPS = ((3.0, 0.02), (float("inf"), 0.1))
OPERATING = -1  # lock_owner while a stack operation (no deployment) holds the lock
PAUSED_MESSAGE = "Auto-sync is paused after a rollback: resume it to deploy the branch again"


class StackBusy(Exception):
    """The stack is already queued or syncing."""

    def __init__(self) -> None:
        super().__init__(BUSY_MESSAGE)


def _queue_lease() -> timedelta:
    # A queued task may wait behind others, and the broker re-delivers a task whose
    # worker died only after `retry` seconds: hold the lock at least that long.
    return timedelta(seconds=int(settings.Q_CLUSTER["retry"])) + LOCK_LEASE  # type: ignore[call-overload]


def stack_sync(
    *,
    stack: GitStack,
    trigger: str,
    by: Any,
    force: bool = False,
    target: Deployment | None = None,
    check_here: bool = False,
    head: str | None = None,
) -> Deployment:
    """Take the stack's lock, record a queued deployment and hand it to the worker.

    `by` is the user asking (None for a webhook or schedule). Raises Forbidden when they
    may not deploy to the stack's environment and StackBusy when another sync holds the
    lock. Where an admin must approve first, the answer is a deployment waiting as
    `pending_approval` (asking again joins the one already waiting).

    With `check_here` (callers that wait for the answer anyway) an unchanged branch is
    found out right here and the deployment ends at once, without a trip through the
    queue: the common case of a schedule or a "sync" click costs one `ls-remote`, or
    none when the caller has just read the branch `head` itself.
    """
    rollback = {"target_commit": target.commit_sha, "rollback_to": target} if target else {}
    if deploy_needs_approval(by, stack.environment):
        return _request_approval(stack, trigger=trigger, force=force, **rollback)
    with transaction.atomic():
        deployment = Deployment.objects.create(
            stack=stack, trigger=trigger, force=force, requested_by=current_actor(), **rollback
        )
        take_lock(stack, deployment)  # StackBusy rolls the row back: a refused call is no attempt
    record("stack.sync", stack, f"deployment={deployment.pk} trigger={trigger} force={force}")
    if check_here:
        # Imported here: the runner builds on this module (the lock it releases).
        from gitsync.services.runner import deployment_check_unchanged

        if deployment_check_unchanged(deployment=deployment, head=head):
            return deployment
    return hand_to_worker(stack, deployment)


def take_lock(stack: GitStack, deployment: Deployment) -> None:
    """Give the stack's lock to `deployment` (inside the caller's transaction), taking it
    back from a deployment whose lease ran out; StackBusy when it is held."""
    _grab(stack, deployment.pk, _queue_lease(), sync_status=GitStack.SyncStatus.QUEUED)
    stack.sync_status = GitStack.SyncStatus.QUEUED


def _grab(stack: GitStack, owner: int, lease: timedelta, **fields: Any) -> None:
    now = timezone.now()
    free = Q(lock_owner__isnull=True) | Q(lock_expires__lt=now)
    stale_owner = GitStack.objects.filter(pk=stack.pk).values_list("lock_owner", flat=True).first()
    if not GitStack.objects.filter(free, pk=stack.pk).update(lock_owner=owner, lock_expires=now + lease, **fields):
        raise StackBusy()
    if stale_owner:
        stale = Deployment.objects.filter(pk=stale_owner).first()
        if stale:
            stale.finish(Deployment.Status.INTERRUPTED, error=WORKER_LOST)


@contextmanager
def operation_lock(stack: GitStack, timeout: float) -> Iterator[None]:
    """Hold the stack's lock while a start/stop/restart/down runs: never beside a sync.
    A webhook arriving meanwhile still gets its follow-up afterwards."""
    _grab(stack, OPERATING, timedelta(seconds=timeout) + LOCK_LEASE)
    try:
        yield
    finally:
        release_lock(stack, OPERATING, ok=True, outcome=False)


def hand_to_worker(stack: GitStack, deployment: Deployment) -> Deployment:
    try:
        enqueue(deployment)
    except Exception as exc:  # the broker is down: do not leave the stack locked
        log.exception("could not queue deployment %s", deployment.pk)
        release_lock(stack, deployment.pk, ok=False, error=f"Could not queue the sync: {exc}")
        deployment.finish(Deployment.Status.FAILED, error=f"Could not queue the sync: {exc}")
    deployment.refresh_from_db()
    return deployment


def _request_approval(stack: GitStack, *, trigger: str, force: bool, **rollback: Any) -> Deployment:
    waiting = Deployment.objects.filter(stack=stack, status=Deployment.Status.PENDING_APPROVAL)
    try:
        with transaction.atomic():  # the partial unique index makes "one waiting" atomic
            deployment = Deployment.objects.create(
                stack=stack,
                trigger=trigger,
                force=force,
                status=Deployment.Status.PENDING_APPROVAL,
                requested_by=current_actor(),
                **rollback,
            )
    except IntegrityError:
        joined = waiting.first()
        if joined is None:  # approved or rejected in between: ask again
            return _request_approval(stack, trigger=trigger, force=force, **rollback)
        return joined
    record("stack.sync_requested", stack, f"deployment={deployment.pk} trigger={trigger}: waiting for approval")
    return deployment


def auto_sync_refusal(stack: GitStack) -> str:
    """Why a webhook or schedule must not sync this stack now ('' when it may)."""
    if stack.auto_sync_paused:
        return PAUSED_MESSAGE
    try:
        deploy_needs_approval(None, stack.environment)
    except Forbidden as exc:
        return str(exc)
    return ""


def deployment_wait(*, deployment: Deployment, timeout: float) -> Deployment:
    """Block until the deployment has finished (or `timeout` passes); return it fresh."""
    if deployment.is_finished:
        return deployment  # ended where it was asked for (an unchanged branch)
    started = time.monotonic()
    while True:
        deployment.refresh_from_db()
        waited = time.monotonic() - started
        if deployment.is_finished or waited >= timeout:
            return deployment
        time.sleep(next(step for within, step in WAIT_STEPS if waited < within))


def stack_sync_coalesced(
    *, stack: GitStack, trigger: str, check_here: bool = False, head: str | None = None
) -> Deployment | None:
    """Sync now, or, when a sync is running, make sure exactly one follow-up runs after
    it (webhooks and schedules: a push that arrives mid-sync must not be lost).

    Returns the new deployment, or None when the request joined the pending follow-up.
    """
    for _ in range(5):
        try:
            return stack_sync(stack=stack, trigger=trigger, by=None, check_here=check_here, head=head)
        except StackBusy:
            # Only while the lock is held; if it was released meanwhile, try again.
            if GitStack.objects.filter(pk=stack.pk, lock_owner__isnull=False).update(
                sync_pending=True, pending_trigger=trigger
            ):
                record("stack.sync_coalesced", stack, f"trigger={trigger}: one follow-up after the running sync")
                return None
    raise StackBusy()


def enqueue(deployment: Deployment) -> None:
    async_task("gitsync.tasks.run_deployment", deployment.pk, task_name=f"deployment-{deployment.pk}")


def release_lock(
    stack: GitStack,
    owner: int,
    *,
    ok: bool,
    error: str = "",
    commit: str = "",
    branch_missing: bool = False,
    outcome: bool = True,
    seen_head: str = "",
) -> None:
    """Give the lock back and record the outcome on the stack, only if `owner` (a
    deployment id) still holds it.

    When a follow-up is pending the lock goes straight to a new queued deployment. The
    row lock makes "is one pending?" and "release" one step: a webhook that marks a
    follow-up waits for it, then finds the lock either handed over or free.
    """
    fields: dict[str, object] = {}
    if outcome:  # a stack operation holds the lock too, but is no sync outcome
        fields.update(
            sync_status=GitStack.SyncStatus.SUCCESS if ok else GitStack.SyncStatus.FAILED,
            sync_error=error,
            last_sync=timezone.now(),
        )
    if ok and commit:
        fields["last_commit"] = commit  # lastCommit moves only on success
    if ok or branch_missing:  # other failures say nothing about the branch
        fields["branch_missing"] = branch_missing
    if seen_head:  # the branch head this sync saw on the remote
        fields["remote_head"] = seen_head
    followup = None
    with transaction.atomic():
        held = stack.lock_held_by(owner).select_for_update()
        pending = held.values_list("sync_pending", "pending_trigger").first()
        if pending is None:
            return  # the lock was taken back after its lease ran out
        if pending[0]:
            followup = Deployment.objects.create(stack=stack, trigger=pending[1] or Deployment.Trigger.WEBHOOK)
            fields.update(
                lock_owner=followup.pk,
                lock_expires=timezone.now() + _queue_lease(),
                sync_status=GitStack.SyncStatus.QUEUED,
                sync_pending=False,
                pending_trigger="",
            )
        else:
            fields.update(lock_owner=None, lock_expires=None)
        held.update(**fields)
    if followup is not None:
        enqueue(followup)


def lock_abandon(stack: GitStack, owner: int) -> None:
    """Free a lock whose worker died: its deployment ends `interrupted`, and a follow-up
    that was pending still runs (a push that arrived meanwhile is not lost)."""
    deployment = Deployment.objects.filter(pk=owner).first()
    if deployment is not None:
        deployment.finish(Deployment.Status.INTERRUPTED, error=WORKER_LOST)
    release_lock(stack, owner, ok=False, error=WORKER_LOST)


def deployment_requeue(deployment: Deployment) -> None:
    """Hand a queued deployment to the worker again (its task may have died with the
    last worker). A duplicate delivery is harmless: `start()` lets one run."""
    deployment.live_stack().lock_held_by(deployment.pk).update(lock_expires=timezone.now() + _queue_lease())
    enqueue(deployment)
