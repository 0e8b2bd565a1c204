"""The sync pipeline (spec §4): one path for the API, the page, webhooks and schedules.

`stack_sync` takes the stack's lock (stacks/services/lock.py) and queues a deployment;
the worker runs it (`runner.deployment_run`); `deployment_wait` lets a caller block
until it has finished.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import IntegrityError, transaction

from dockhand.audit import acting_as, current_actor, record
from dockhand.errors import Forbidden
from gitsync import git
from gitsync.services.auth import git_auth
from stacks.models import Deployment, GitStack
from stacks.services.access import deploy_needs_approval
from stacks.services.lock import (
    StackBusy,
    SyncOutcome,
    lock_ask_followup,
    lock_followup_asked,
    lock_is_held,
    lock_release,
    lock_take_for,
    lock_wait_again,
)
from stacks.services.queue import enqueue
from stacks.services.revision import revision, stack_config
from stacks.services.unchanged import deployment_check_unchanged

log = logging.getLogger(__name__)

# Seconds between looks at a deployment someone waits for: often at first (most
# deploys are short, and each step is latency added to the answer), then less.
WAIT_STEPS = ((3.0, 0.02), (float("inf"), 0.1))
PAUSED_MESSAGE = "Auto-sync is paused after a rollback or a pinned deploy: resume it to deploy the branch again"


def stack_sync(
    *,
    stack: GitStack,
    trigger: str,
    by: Any,
    force: bool = False,
    target: Deployment | None = None,
    pin: str = "",
    again: Deployment | None = None,
    check_here: bool = False,
    head: str | None = None,
    hand_off: bool = True,
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

    `target` (a rollback) or `pin` (a commit id, full or abbreviated) deploy that commit
    instead of the branch head; a pinned commit must be in the branch's history
    (CommitNotOnBranch otherwise, before anything is recorded). Like a rollback, a pin
    pauses automatic syncs: no push or schedule undoes it behind the user's back.
    `again` (recovery) runs an interrupted deployment again with the same aim.

    `hand_off=False`: the caller writes more in the same transaction (a webhook's
    delivery) and hands a queued deployment to the worker once that has committed
    (`hand_to_worker`): the worker must not look for a row it cannot see yet.
    """
    needs_approval = deploy_needs_approval(by, stack.environment)  # who may, before anything costly
    if pin:
        if lock_is_held(stack):
            raise StackBusy()  # before fetching the branch's history for nothing
        pin = _on_branch(stack, pin)
    aim: dict[str, Any] = {"target_commit": target.commit_sha, "rollback_to": target} if target else {}
    if pin:
        aim = {"target_commit": pin}
    if again is not None:
        aim = {"target_commit": again.target_commit, "rollback_to": again.rollback_to, "retry_of": again}
    if needs_approval:
        return _request_approval(stack, trigger=trigger, force=force, **aim)
    with transaction.atomic():
        deployment = Deployment.objects.create(
            stack=stack, trigger=trigger, force=force, requested_by=current_actor(), **aim
        )
        lock_take_for(stack, deployment)  # StackBusy rolls the row back: a refused call is no attempt
    pinned = f" commit={pin}" if pin else ""
    record("stack.sync", stack, f"deployment={deployment.pk} trigger={trigger} force={force}{pinned}")
    if pin:
        stack.record(auto_sync_paused=True)
    if check_here and deployment_check_unchanged(deployment=deployment, head=head):
        return deployment
    return hand_to_worker(stack, deployment) if hand_off else deployment


def deployment_rerun(interrupted: Deployment) -> Deployment | None:
    """Run again, once, a deployment that a stop or a crash interrupted (trigger
    `recovery`), so that its stack ends running what it was deploying, not half of it.
    Its aim is kept: a rollback rolls back again, a pinned commit stays pinned, a plain
    sync deploys the branch head. Where the environment asks for approval, it waits for
    one like any automatic deploy.

    None when nothing runs: the stack is gone or locked against automatic deploys, the
    deployment was run again already, or the lock is held (a push that arrived
    meanwhile took it as its follow-up, and that deploys the newest state anyway)."""
    if interrupted.stack_id is None or Deployment.objects.filter(retry_of=interrupted).exists():
        return None
    stack = GitStack.objects.select_related("environment").filter(pk=interrupted.stack_id).first()
    if stack is None:
        return None
    try:
        with acting_as("recovery"):
            return stack_sync(
                stack=stack, trigger=Deployment.Trigger.RECOVERY, by=None, force=interrupted.force, again=interrupted
            )
    except (StackBusy, Forbidden):
        return None


class CommitNotOnBranch(Exception):
    """A pinned commit that is not in the history of the stack's branch (answered 400)."""

    error_code = "commit_not_on_branch"


def _on_branch(stack: GitStack, commit: str) -> str:
    """The full id of `commit` when the stack's branch holds it; GitError when the
    remote cannot be read."""
    repository = stack.repository
    full = git.commit_on_branch(
        url=repository.url, branch=stack.branch, commit=commit.lower(), auth=git_auth(repository.credential)
    )
    if full is None:
        raise CommitNotOnBranch(f"{commit} is not a commit of the branch {stack.branch}")
    return full


def hand_to_worker(stack: GitStack, deployment: Deployment) -> Deployment:
    """Queue a deployment that holds the stack's lock; a broker that cannot take it
    fails the deployment and frees the lock (the stack is never left locked)."""
    try:
        enqueue(deployment)
    except Exception as exc:
        log.exception("could not queue deployment %s", deployment.pk)
        error = f"Could not queue the sync: {exc}"
        lock_release(stack, deployment.pk, SyncOutcome(ok=False, error=error))
        deployment.finish(Deployment.Status.FAILED, error=error)
    deployment.refresh_from_db()
    return deployment


def _request_approval(stack: GitStack, *, trigger: str, force: bool, **rollback: Any) -> Deployment:
    """A deploy that waits for an admin, recording exactly what it asks to deploy: the
    commit (its target, or the branch head now) and the desired-state revision. The
    approver sees that commit, and approval deploys that and nothing newer (GitError
    when the remote cannot be read: nobody approves an unknown commit)."""
    waiting = Deployment.objects.filter(stack=stack, status=Deployment.Status.PENDING_APPROVAL)
    joined = waiting.first()
    if joined is not None:
        return joined  # asking again joins the request already waiting
    commit = rollback.get("target_commit") or git.remote_head(
        url=stack.repository.url, branch=stack.branch, auth=git_auth(stack.repository.credential)
    )
    config = stack_config(stack)
    try:
        with transaction.atomic():  # the partial unique index makes "one waiting" atomic
            deployment = Deployment.objects.create(
                stack=stack,
                trigger=trigger,
                force=force,
                status=Deployment.Status.PENDING_APPROVAL,
                requested_by=current_actor(),
                commit_sha=commit,
                revision=revision(commit, config),
                config=config,
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
    *, stack: GitStack, trigger: str, check_here: bool = False, head: str | None = None, hand_off: bool = True
) -> Deployment | None:
    """Sync now, or, when a sync is running, make sure exactly one follow-up runs after
    it (webhooks and schedules: a push that arrives mid-sync must not be lost).

    Returns the new deployment, or None when the request joined the pending follow-up.
    `stack` must have been read after the trigger arrived. `hand_off` as for `stack_sync`.
    """
    # A burst of pushes finds the lock held: asking for the follow-up first costs one
    # UPDATE, where a sync attempt writes a deployment row and rolls it back. Not where an
    # admin must approve: that request is a deployment waiting, lock or no lock.
    held = stack.lock_owner is not None and not deploy_needs_approval(None, stack.environment)
    if held and lock_followup_asked(stack):
        return None  # joined without a write (`stack` is read after the trigger arrived)
    for _ in range(5):
        # Only while the lock is held; if it was released meanwhile, sync.
        if held and lock_ask_followup(stack, trigger):
            record("stack.sync_coalesced", stack, f"trigger={trigger}: one follow-up after the running sync")
            return None
        try:
            return stack_sync(
                stack=stack, trigger=trigger, by=None, check_here=check_here, head=head, hand_off=hand_off
            )
        except StackBusy:
            held = True
    raise StackBusy()


def deployment_requeue(deployment: Deployment) -> None:
    """Hand a queued deployment to the worker again (its task may have died with the
    last worker). A duplicate delivery is harmless: `start()` lets one run."""
    lock_wait_again(deployment)
    enqueue(deployment)
