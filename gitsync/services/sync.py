"""The sync pipeline (spec §4): one path for the API, the page, webhooks and schedules.

`stack_sync` takes the stack's lock and queues a deployment; the worker runs
`deployment_run`; `deployment_wait` lets a caller block until it has finished.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from dockhand.audit import current_actor, record
from dockhand.errors import Conflict
from dockhand.masking import mask
from gitsync import git
from gitsync.models import Repository
from gitsync.services.auth import git_auth
from stacks import compose
from stacks.models import Deployment, GitStack
from stacks.services.access import Forbidden, deploy_needs_approval
from stacks.services.deploy import stack_deploy
from stacks.services.deploy_errors import DeployError
from stacks.services.output import DeploymentOutput, plain_text, wake_viewers

log = logging.getLogger(__name__)

# While a sync runs its lock is renewed every HEARTBEAT; a worker that dies stops
# renewing and the lock can be taken back once LOCK_LEASE has passed.
LOCK_LEASE = timedelta(seconds=120)
HEARTBEAT = 30.0
BUSY_MESSAGE = "Stack is already syncing. Please wait for the current operation to complete."
WORKER_LOST = "The worker running this sync stopped before it finished."


class StackBusy(Exception):
    """The stack is already queued or syncing."""

    def __init__(self) -> None:
        super().__init__(BUSY_MESSAGE)


def _queue_lease() -> timedelta:
    # A queued task may wait behind others, and the broker re-delivers a task whose
    # worker died only after `retry` seconds: hold the lock at least that long.
    return timedelta(seconds=int(settings.Q_CLUSTER["retry"])) + LOCK_LEASE  # type: ignore[call-overload]


def stack_sync(*, stack: GitStack, trigger: str, by: Any, force: bool = False) -> Deployment:
    """Take the stack's lock, record a queued deployment and hand it to the worker.

    `by` is the user asking (None for a webhook or schedule). Raises Forbidden when they
    may not deploy to the stack's environment and StackBusy when another sync holds the
    lock. Where an admin must approve first, the answer is a deployment waiting as
    `pending_approval` (asking again joins the one already waiting).
    """
    if deploy_needs_approval(by, stack.environment):
        return _request_approval(stack, trigger=trigger, force=force)
    with transaction.atomic():
        deployment = Deployment.objects.create(stack=stack, trigger=trigger, force=force, requested_by=current_actor())
        _take_lock(stack, deployment)  # StackBusy rolls the row back: a refused call is no attempt
    record("stack.sync", stack, f"deployment={deployment.pk} trigger={trigger} force={force}")
    return _hand_to_worker(stack, deployment)


def _take_lock(stack: GitStack, deployment: Deployment) -> None:
    """Give the stack's lock to `deployment` (inside the caller's transaction), taking it
    back from a deployment whose lease ran out; StackBusy when it is held."""
    now = timezone.now()
    free = Q(lock_owner__isnull=True) | Q(lock_expires__lt=now)
    stale_owner = GitStack.objects.filter(pk=stack.pk).values_list("lock_owner", flat=True).first()
    taken = GitStack.objects.filter(free, pk=stack.pk).update(
        lock_owner=deployment.pk, lock_expires=now + _queue_lease(), sync_status=GitStack.SyncStatus.QUEUED
    )
    if not taken:
        raise StackBusy()
    stack.sync_status = GitStack.SyncStatus.QUEUED
    if stale_owner:
        stale = Deployment.objects.filter(pk=stale_owner).first()
        if stale:
            stale.finish(Deployment.Status.INTERRUPTED, error=WORKER_LOST)


def _hand_to_worker(stack: GitStack, deployment: Deployment) -> Deployment:
    try:
        _enqueue(deployment)
    except Exception as exc:  # the broker is down: do not leave the stack locked
        log.exception("could not queue deployment %s", deployment.pk)
        _release(stack, deployment.pk, ok=False, error=f"Could not queue the sync: {exc}")
        deployment.finish(Deployment.Status.FAILED, error=f"Could not queue the sync: {exc}")
    deployment.refresh_from_db()
    return deployment


def _request_approval(stack: GitStack, *, trigger: str, force: bool) -> Deployment:
    waiting = Deployment.objects.filter(stack=stack, status=Deployment.Status.PENDING_APPROVAL)
    try:
        with transaction.atomic():  # the partial unique index makes "one waiting" atomic
            deployment = Deployment.objects.create(
                stack=stack,
                trigger=trigger,
                force=force,
                status=Deployment.Status.PENDING_APPROVAL,
                requested_by=current_actor(),
            )
    except IntegrityError:
        joined = waiting.first()
        if joined is None:  # approved or rejected in between: ask again
            return _request_approval(stack, trigger=trigger, force=force)
        return joined
    record("stack.sync_requested", stack, f"deployment={deployment.pk} trigger={trigger}: waiting for approval")
    return deployment


def auto_sync_refusal(stack: GitStack) -> str:
    """Why a webhook or schedule must not sync this stack now ('' when it may)."""
    try:
        deploy_needs_approval(None, stack.environment)
    except Forbidden as exc:
        return str(exc)
    return ""


def deployment_approve(*, deployment: Deployment, by: Any) -> Deployment:
    """An admin lets a pending deployment run: it takes the stack's lock and is queued.

    Raises Forbidden unless `by` could deploy here without approval, Conflict when the
    deployment no longer waits, StackBusy (approval undone) while another sync runs.
    """
    stack = deployment.stack
    if deploy_needs_approval(by, stack.environment):
        raise Forbidden("Only an admin of this environment approves deploys")
    with transaction.atomic():
        approved = Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.PENDING_APPROVAL).update(
            status=Deployment.Status.QUEUED, reviewed_by=current_actor()
        )
        if not approved:
            raise Conflict("This deployment is not waiting for approval")
        _take_lock(stack, deployment)
    record("deployment.approve", deployment, f"stack={stack.pk}")
    return _hand_to_worker(stack, deployment)


def deployment_reject(*, deployment: Deployment, by: Any, reason: str = "") -> Deployment:
    """An admin turns a pending deployment down: it ends `cancelled`, saying by whom."""
    if deploy_needs_approval(by, deployment.stack.environment):
        raise Forbidden("Only an admin of this environment rejects deploys")
    actor = current_actor()
    error = f"Rejected by {actor}" + (f": {reason}" if reason else "")
    if not Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.PENDING_APPROVAL).update(
        status=Deployment.Status.CANCELLED, error=error, reviewed_by=actor, finished_at=timezone.now()
    ):
        raise Conflict("This deployment is not waiting for approval")
    record("deployment.reject", deployment, f"stack={deployment.stack_id}")
    deployment.refresh_from_db()
    wake_viewers(deployment.pk)
    return deployment


def deployment_wait(*, deployment: Deployment, timeout: float) -> Deployment:
    """Block until the deployment has finished (or `timeout` passes); return it fresh."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        deployment.refresh_from_db()
        if deployment.is_finished or time.monotonic() >= deadline:
            return deployment
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def stack_sync_coalesced(*, stack: GitStack, trigger: str) -> Deployment | None:
    """Sync now, or, when a sync is running, make sure exactly one follow-up runs after
    it (webhooks and schedules: a push that arrives mid-sync must not be lost).

    Returns the new deployment, or None when the request joined the pending follow-up.
    """
    for _ in range(5):
        try:
            return stack_sync(stack=stack, trigger=trigger, by=None)
        except StackBusy:
            # Only while the lock is held; if it was released meanwhile, try again.
            if GitStack.objects.filter(pk=stack.pk, lock_owner__isnull=False).update(
                sync_pending=True, pending_trigger=trigger
            ):
                record("stack.sync_coalesced", stack, f"trigger={trigger}: one follow-up after the running sync")
                return None
    raise StackBusy()


def _enqueue(deployment: Deployment) -> None:
    async_task("gitsync.tasks.run_deployment", deployment.pk, task_name=f"deployment-{deployment.pk}")


def _release(
    stack: GitStack, owner: int, *, ok: bool, error: str = "", commit: str = "", branch_missing: bool = False
) -> None:
    """Give the lock back and record the outcome on the stack, only if `owner` (a
    deployment id) still holds it.

    When a follow-up is pending the lock goes straight to a new queued deployment. The
    row lock makes "is one pending?" and "release" one step: a webhook that marks a
    follow-up waits for it, then finds the lock either handed over or free.
    """
    fields: dict[str, object] = {
        "sync_status": GitStack.SyncStatus.SUCCESS if ok else GitStack.SyncStatus.FAILED,
        "sync_error": error,
        "last_sync": timezone.now(),
    }
    if ok and commit:
        fields["last_commit"] = commit  # lastCommit moves only on success
    if ok or branch_missing:  # other failures say nothing about the branch
        fields["branch_missing"] = branch_missing
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
        _enqueue(followup)


def lock_abandon(stack: GitStack, owner: int) -> None:
    """Free a lock whose worker died: its deployment ends `interrupted`, and a follow-up
    that was pending still runs (a push that arrived meanwhile is not lost)."""
    deployment = Deployment.objects.filter(pk=owner).first()
    if deployment is not None:
        deployment.finish(Deployment.Status.INTERRUPTED, error=WORKER_LOST)
    _release(stack, owner, ok=False, error=WORKER_LOST)


def deployment_requeue(deployment: Deployment) -> None:
    """Hand a queued deployment to the worker again (its task may have died with the
    last worker). A duplicate delivery is harmless: `start()` lets one run."""
    deployment.stack.lock_held_by(deployment.pk).update(lock_expires=timezone.now() + _queue_lease())
    _enqueue(deployment)


class _Heartbeat:
    """Renews the stack lock's lease while a sync runs."""

    def __init__(self, stack: GitStack, deployment_id: int) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(stack, deployment_id), daemon=True)

    def _beat(self, stack: GitStack, deployment_id: int) -> None:
        while not self._stop.wait(HEARTBEAT):
            if not stack.renew_lock(deployment_id, LOCK_LEASE):
                log.warning("deployment %s lost the lock of stack %s", deployment_id, stack.pk)
                return

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def deployment_run(*, deployment_id: int) -> Deployment:
    """Run one queued deployment to its end (spec §4); called in the worker."""
    deployment = Deployment.objects.select_related("stack__repository__credential", "stack__environment").get(
        pk=deployment_id
    )
    stack = deployment.stack
    if not deployment.start(worker=f"{settings.NODE_NAME}:{os.getpid()}"):
        return deployment  # cancelled (or already run) while queued
    if not stack.lock_held_by(deployment.pk).update(
        sync_status=GitStack.SyncStatus.SYNCING, lock_expires=timezone.now() + LOCK_LEASE
    ):
        deployment.finish(Deployment.Status.INTERRUPTED, error=WORKER_LOST)
        return deployment
    auth = git_auth(stack.repository.credential)
    secrets = [v.value for v in stack.env_vars.all() if v.is_secret and v.value]
    secrets += list(auth.secrets if auth else ())
    output = DeploymentOutput(deployment, secrets)
    error, unreachable, branch_missing = "", False, False
    with _Heartbeat(stack, deployment.pk):
        try:
            deployed = _sync(stack, deployment, auth, output)
        except (git.GitError, compose.ComposeError, DeployError) as exc:
            error = mask(str(exc), secrets)
            unreachable = isinstance(exc, git.GitError) and exc.unreachable
            branch_missing = isinstance(exc, git.BranchMissing)
        except Exception as exc:
            # The traceback is kept for whoever debugs this, masked like everything else:
            # an exception message may quote a secret.
            trace = mask("".join(traceback.format_exception(exc)), secrets)
            log.error("deployment %s failed unexpectedly\n%s", deployment.pk, trace)
            error = mask(f"Internal error: {exc.__class__.__name__}: {exc}", secrets)
    if error:
        output.line(f"ERROR: {error}")
        deployment.finish(Deployment.Status.FAILED, error=error, remote_unreachable=unreachable)
        _release(stack, deployment.pk, ok=False, error=error, branch_missing=branch_missing)
    elif not deployed:
        deployment.finish(Deployment.Status.SKIPPED)
        _release(stack, deployment.pk, ok=True)
    else:
        deployment.finish(Deployment.Status.SUCCESS, deployed=True)
        _release(stack, deployment.pk, ok=True, commit=deployment.commit_sha)
        Repository.objects.filter(pk=stack.repository_id).update(last_commit=deployment.commit_sha)
    wake_viewers(deployment.pk)
    return deployment


def _sync(stack: GitStack, deployment: Deployment, auth: git.GitAuth | None, output: DeploymentOutput) -> bool:
    """Steps 2–7 of spec §4; returns whether compose ran."""
    repository = stack.repository
    head = git.remote_head(url=repository.url, branch=stack.branch, auth=auth)
    if head == stack.last_commit and not deployment.force:
        _record_commit(deployment, sha=head)
        return False
    workdir = settings.STACKS_DIR / str(stack.pk) / "repo"
    commit = git.checkout(workdir=workdir, url=repository.url, branch=stack.branch, auth=auth)
    _record_commit(deployment, sha=commit.sha, message=commit.message, author=commit.author)
    subject = commit.message.splitlines()[0] if commit.message else ""
    output.line(f"Deploying {commit.sha[:12]} of {stack.branch}: {subject}")
    metadata = {
        "GIT_REPO": repository.url,
        "GIT_BRANCH": stack.branch,
        "GIT_COMMIT_SHA": commit.sha,
        "GIT_COMMIT_MESSAGE": commit.message,
        "GIT_COMMIT_AUTHOR": commit.author,
    }
    stack_deploy(
        stack=stack, workdir=workdir, metadata=metadata, run_id=f"deployment-{deployment.pk}", on_line=output.line
    )
    return True


def _record_commit(deployment: Deployment, *, sha: str, message: str = "", author: str = "") -> None:
    # Commit metadata is repository data: stored without terminal control sequences.
    message, author = plain_text(message), plain_text(author)
    Deployment.objects.filter(pk=deployment.pk).update(commit_sha=sha, commit_message=message, commit_author=author)
    deployment.commit_sha, deployment.commit_message, deployment.commit_author = sha, message, author
