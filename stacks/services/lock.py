"""The per-stack lock: one sync or stack operation at a time (spec §4).

The lock is two columns of the stack row, `lock_owner` and `lock_expires`: a lease
that is taken, handed over, renewed and given back only by conditional UPDATEs, never
read-then-write. This module is the only one that writes them. The owner is a
deployment id, or one of the `Holder`s below for work that has no deployment.

A worker that dies stops renewing its lease, so the lock can be taken back once the
lease has run out (`lock_take` does it, and `recover_after_restart` at start-up).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from dockhand.errors import Busy, InUse
from stacks.models import Deployment, GitStack
from stacks.services.queue import enqueue

BUSY_MESSAGE = "Stack is already syncing. Please wait for the current operation to complete."
# A follow-up starts at least this long after the sync before it started. A deploy
# takes longer, so real pushes never wait; but a flood of pushes (a bot, a replay, a
# benchmark) would otherwise run back-to-back syncs that each find nothing new, a
# fetch and a dozen writes apiece, for as long as it lasts (bench/notes.md, #4).
FOLLOWUP_SPACING = timedelta(seconds=1)


class Holder(IntEnum):
    """Owners of the lock that are not a deployment (deployment ids are positive)."""

    DELETION = 0  # stack_delete holds it for good: the row goes away with the lock
    OPERATION = -1  # a start / stop / restart / down runs


class StackBusy(Busy):
    """The stack is already queued, syncing or being operated on (answered 409)."""

    error_code = "stack_busy"

    def __init__(self) -> None:
        super().__init__(BUSY_MESSAGE)


@dataclass(frozen=True)
class SyncOutcome:
    """What a finished sync records on its stack as it gives the lock back."""

    ok: bool
    error: str = ""
    # What a successful deploy applied: its commit (lastCommit moves only on success),
    # the rest of its revision, and the commit it was pinned to ('' for the branch head).
    commit: str = ""
    config: dict[str, Any] | None = None
    pinned: str = ""
    branch_missing: bool = False
    seen_head: str = ""  # the branch head this sync saw on the remote


def lock_lease() -> timedelta:
    """How long a running sync's lock lasts unless renewed (DOCKHAND_LOCK_LEASE). A worker
    that dies stops renewing, and the clock's reaper takes the lock back after it."""
    return timedelta(seconds=settings.LOCK_LEASE)


def heartbeat() -> float:
    """Seconds between renewals of a running sync's lease: four chances per lease, so
    a busy database that drops a renewal or two never costs a live deploy its lock."""
    return settings.LOCK_LEASE / 4


def queue_lease() -> timedelta:
    """How long a queued deployment holds the lock once it was handed to the worker
    again: a queue busy with long deploys may keep it waiting that long, legitimately.
    (The first time, it holds an ordinary lease: a task lost with a dead node is
    handed over again by the reaper within minutes, not after the broker's retry.)"""
    # A queued task may wait behind others, and the broker re-delivers a task whose
    # worker died only after `retry` seconds: hold the lock at least that long.
    return timedelta(seconds=int(settings.Q_CLUSTER["retry"])) + lock_lease()  # type: ignore[call-overload]


def lock_held_by(stack: GitStack, owner: int) -> QuerySet[GitStack]:
    """The stack's row, only while `owner` holds its lock."""
    return GitStack.objects.filter(pk=stack.pk, lock_owner=owner)


def lock_is_held(stack: GitStack) -> bool:
    """Whether someone holds the stack's lock now (a look, not a claim: for refusing
    early what `lock_take` would refuse anyway)."""
    held = GitStack.objects.filter(pk=stack.pk, lock_owner__isnull=False, lock_expires__gte=timezone.now())
    return held.exists()


def lock_take(stack: GitStack, owner: int, lease: timedelta, **fields: Any) -> None:
    """Give the lock to `owner` (and write `fields` with it), taking it back from a
    holder whose lease ran out; StackBusy when it is held."""
    now = timezone.now()
    free = Q(lock_owner__isnull=True) | Q(lock_expires__lt=now)
    stale_owner = GitStack.objects.filter(pk=stack.pk).values_list("lock_owner", flat=True).first()
    if not GitStack.objects.filter(free, pk=stack.pk).update(lock_owner=owner, lock_expires=now + lease, **fields):
        raise StackBusy()
    if stale_owner and stale_owner > 0:  # a deployment whose worker died
        stale = Deployment.objects.filter(pk=stale_owner).first()
        if stale:
            stale.interrupt()


def lock_take_for(stack: GitStack, deployment: Deployment) -> None:
    """Give the lock to a queued deployment (inside the caller's transaction, so a
    refusal rolls its row back); StackBusy when it is held."""
    lock_take(stack, deployment.pk, lock_lease(), sync_status=GitStack.SyncStatus.QUEUED)
    stack.sync_status = GitStack.SyncStatus.QUEUED


def lock_start_running(stack: GitStack, deployment: Deployment) -> bool:
    """The worker begins the deployment: the stack shows `syncing` and the lease runs
    from now. False when its lock was taken back meanwhile."""
    return (
        lock_held_by(stack, deployment.pk).update(
            sync_status=GitStack.SyncStatus.SYNCING, lock_expires=timezone.now() + lock_lease()
        )
        == 1
    )


def lock_renew(stack: GitStack, owner: int, lease: timedelta | None = None) -> bool:
    """Extend the lease (by `lock_lease()` unless given); False when the lock was lost
    (taken back after it expired)."""
    return lock_held_by(stack, owner).update(lock_expires=timezone.now() + (lease or lock_lease())) == 1


def lock_wait_again(deployment: Deployment) -> None:
    """A queued deployment is handed to the worker again: its lease starts over."""
    lock_renew(deployment.live_stack(), deployment.pk, queue_lease())


def lock_ask_followup(stack: GitStack, trigger: str) -> bool:
    """While the lock is held, ask its holder to hand it to one follow-up sync when it
    finishes (many asks, one follow-up). False when the lock is free, or its lease ran
    out (its holder may be dead: the caller takes the lock instead)."""
    held = GitStack.objects.filter(pk=stack.pk, lock_owner__isnull=False, lock_expires__gte=timezone.now())
    return held.update(sync_pending=True, pending_trigger=trigger) == 1


def lock_followup_asked(stack: GitStack) -> bool:
    """Whether, as `stack` was read, its live lock already had a follow-up asked for.
    A trigger read after it arrived then needs no write to be served: that follow-up
    is created when the lock is released, after this read, and fetches after that.
    (Reads only the instance: under a flood of pushes most of them find it so.)"""
    return bool(
        stack.lock_owner is not None
        and stack.sync_pending
        and stack.lock_expires is not None
        and stack.lock_expires >= timezone.now()
    )


def lock_release(stack: GitStack, owner: int, outcome: SyncOutcome | None = None) -> Deployment | None:
    """Give the lock back, only if `owner` still holds it, recording the sync's
    `outcome` on the stack (None: the holder was no sync, e.g. a stack operation).

    When a follow-up is pending the lock goes straight to a new queued deployment (which
    is returned). The
    row lock makes "is one pending?" and "release" one step: a webhook that asks for a
    follow-up waits for it, then finds the lock either handed over or free.
    """
    fields: dict[str, object] = {}
    if outcome is not None:
        fields.update(
            sync_status=GitStack.SyncStatus.SUCCESS if outcome.ok else GitStack.SyncStatus.FAILED,
            sync_error=outcome.error,
            last_sync=timezone.now(),
        )
        if outcome.ok and outcome.commit:
            fields.update(last_commit=outcome.commit, applied_config=outcome.config, pinned_commit=outcome.pinned)
        if outcome.ok or outcome.branch_missing:  # other failures say nothing about the branch
            fields["branch_missing"] = outcome.branch_missing
        if outcome.seen_head:
            fields["remote_head"] = outcome.seen_head
    followup = None
    with transaction.atomic():
        held = lock_held_by(stack, owner).select_for_update()
        pending = held.values_list("sync_pending", "pending_trigger").first()
        if pending is None:
            return None  # the lock was taken back after its lease ran out
        if pending[0]:
            followup = Deployment.objects.create(
                stack=stack,
                trigger=pending[1] or Deployment.Trigger.WEBHOOK,
                followup=True,
                not_before=_spaced_from(owner),
            )
            fields.update(
                lock_owner=followup.pk,
                lock_expires=timezone.now() + lock_lease(),
                sync_status=GitStack.SyncStatus.QUEUED,
                sync_pending=False,
                pending_trigger="",
            )
        else:
            fields.update(lock_owner=None, lock_expires=None)
        held.update(**fields)
    if followup is not None:
        enqueue(followup)
    return followup


def _spaced_from(owner: int) -> datetime | None:
    """When a follow-up of `owner`'s sync may start (None: at once)."""
    started = Deployment.objects.filter(pk=owner).values_list("started_at", flat=True).first() if owner > 0 else None
    return started + FOLLOWUP_SPACING if started is not None else None


def lock_abandon(stack: GitStack, owner: int) -> Deployment | None:
    """Free a lock whose worker died: its deployment ends `interrupted`, and a follow-up
    that was pending still runs (a push that arrived meanwhile is not lost; returned)."""
    deployment = Deployment.objects.filter(pk=owner).first() if owner > 0 else None
    if deployment is not None:
        deployment.interrupt()
    return lock_release(stack, owner, SyncOutcome(ok=False, error=Deployment.WORKER_LOST))


@contextmanager
def operation_lock(stack: GitStack, timeout: float) -> Iterator[None]:
    """Hold the stack's lock while a start/stop/restart/down runs: never beside a sync.
    A webhook arriving meanwhile still gets its follow-up afterwards."""
    lock_take(stack, Holder.OPERATION, timedelta(seconds=timeout) + lock_lease())
    try:
        yield
    finally:
        lock_release(stack, Holder.OPERATION)


def lock_for_deletion(stack: GitStack) -> None:
    """Take the lock for good before the stack is deleted; StackBusy while it is held.
    Give it back with `lock_release(stack, Holder.DELETION)` if the deletion fails."""
    try:
        lock_take(stack, Holder.DELETION, timedelta(hours=1))
    except StackBusy as exc:
        raise InUse("Stack is syncing; delete it when the sync has finished") from exc
