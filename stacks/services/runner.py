"""Running one deployment in the worker (spec §4, steps 2–8): git, compose, the health
gate, what the deploy ran, and the way out (success, skipped, failed, cancelled)."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from dockhand.durable import durably
from dockhand.masking import mask
from dockhand.node import stop_deadline
from gitsync import git
from gitsync.models import Repository
from gitsync.services.auth import git_auth
from stacks import compose
from stacks.models import Deployment, GitStack
from stacks.services.commit_status import deployment_status_post
from stacks.services.deploy import git_metadata, stack_config_ahead, stack_deploy, stack_secrets
from stacks.services.deploy_errors import DeployError
from stacks.services.images import services_to_pull, stack_images_ran
from stacks.services.lock import (
    FOLLOWUP_SPACING,
    SyncOutcome,
    heartbeat,
    lock_release,
    lock_renew,
    lock_start_running,
)
from stacks.services.notifications import deployment_notify
from stacks.services.output import DeploymentOutput, plain_text, wake_viewers
from stacks.services.revision import Config, revision, stack_config
from stacks.services.rollback import NothingToRollBack, stack_rollback
from stacks.services.secret_inputs import secret_inputs_refresh, with_applied
from stacks.services.skipped import UNCHANGED_NOTE
from stacks.services.sync import deployment_rerun

log = logging.getLogger(__name__)

# The lease is renewed every heartbeat(); a cancel request is noticed within CANCEL_POLL.
CANCEL_POLL = 0.5
STOPPED_NOTE = "Stack stopped by user, not redeployed"
CHANGED_SINCE_APPROVAL = (
    "The stack's settings changed after this deploy was requested, so what was approved no longer"
    " applies; nothing was deployed. Sync again to ask for approval of the new settings."
)


class _Watch:
    """While a deployment runs: renews its stack lock's lease, and sets `stop` when
    someone asks to cancel it or when the node's stop grace runs out (the compose run
    and the health wait watch `stop`)."""

    def __init__(self, stack: GitStack, deployment_id: int) -> None:
        self.stop = threading.Event()
        self.cancelled_by = ""
        self.node_stopping = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(stack, deployment_id), daemon=True)

    def _watch(self, stack: GitStack, deployment_id: int) -> None:
        renew_at = time.monotonic() + heartbeat()
        try:
            while not self._done.wait(CANCEL_POLL):
                try:
                    self._check(stack, deployment_id, renew=time.monotonic() >= renew_at)
                except DatabaseError as exc:  # a busy database: try again on the next tick
                    log.debug("deployment %s watch: %s", deployment_id, exc)
                    continue
                if time.monotonic() >= renew_at:
                    renew_at = time.monotonic() + heartbeat()
        finally:
            connection.close()  # this thread's own connection

    def _check(self, stack: GitStack, deployment_id: int, *, renew: bool) -> None:
        deadline = stop_deadline()
        if not self.stop.is_set() and deadline is not None and time.time() >= deadline:
            self.node_stopping = True
            self.stop.set()
        if not self.stop.is_set():
            who = Deployment.objects.filter(pk=deployment_id).values_list("cancel_requested_by", flat=True).first()
            if who:
                self.cancelled_by = who
                self.stop.set()
        if renew and not lock_renew(stack, deployment_id):
            log.warning("deployment %s lost the lock of stack %s", deployment_id, stack.pk)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)


@dataclass
class _Outcome:
    deployed: bool = False
    compose_ran: bool = False  # a failure after this may have changed the containers
    config: Config | None = None  # what it applies besides the commit
    status_posted: bool = False  # the forge was told `pending`: it hears the result too


def _waited_for_spacing(deployment: Deployment) -> bool:
    """A follow-up waits, still queued, until its `not_before` (lock.FOLLOWUP_SPACING
    after the sync before it started; never longer, whatever the clocks say). True when
    it waited: what it decides with must then be read again."""
    if deployment.not_before is None:
        return False
    wait = (deployment.not_before - timezone.now()).total_seconds()
    if wait <= 0:
        return False
    time.sleep(min(wait, FOLLOWUP_SPACING.total_seconds()))
    return True


def _deployment_to_run(deployment_id: int) -> Deployment:
    # The overrides are read once: the revision recorded is exactly what compose gets.
    return (
        Deployment.objects.select_related("stack__repository__credential", "stack__environment", "rollback_to")
        .prefetch_related("stack__env_vars")
        .get(pk=deployment_id)
    )


def deployment_run(*, deployment_id: int) -> Deployment:
    """Run one queued deployment to its end; called in the worker."""
    deployment = _deployment_to_run(deployment_id)
    if _waited_for_spacing(deployment):
        deployment = _deployment_to_run(deployment_id)  # with what was saved while it waited
    stack = deployment.stack
    if stack is None:
        return deployment  # its stack was deleted (history kept): nothing to run
    if stop_deadline() is not None:
        return deployment  # the node is stopping: it stays queued, for the next start
    if not deployment.start(worker=f"{settings.NODE_NAME}:{os.getpid()}"):
        return deployment  # cancelled while queued, or a duplicate delivery: it runs once
    wake_viewers(deployment.pk)  # their headers say "running" now, not at the first line
    if not lock_start_running(stack, deployment):
        deployment.interrupt()  # its lock was taken back while it waited
        return deployment
    auth = git_auth(stack.repository.credential)
    secrets = stack_secrets(stack)
    output = DeploymentOutput(deployment, secrets)
    outcome = _Outcome()
    error, unreachable, branch_missing = "", False, False
    with _Watch(stack, deployment.pk) as watch:
        try:
            _sync(_Run(stack, deployment, auth, output, watch.stop, outcome))
        except (git.GitError, compose.ComposeError, DeployError) as exc:
            error = mask(str(exc), output.secrets)  # (with what the deploy resolved)
            unreachable = isinstance(exc, git.GitError) and exc.unreachable
            branch_missing = isinstance(exc, git.BranchMissing)
        except Exception as exc:
            # The traceback is kept for whoever debugs this, masked like everything else:
            # an exception message may quote a secret.
            trace = mask("".join(traceback.format_exception(exc)), output.secrets)
            log.error("deployment %s failed unexpectedly\n%s", deployment.pk, trace)
            error = mask(f"Internal error: {exc.__class__.__name__}: {exc}", output.secrets)
    if watch.node_stopping:
        _say(output, f"Interrupted: {Deployment.STOPPED}")
        interrupted = SyncOutcome(ok=False, error=Deployment.STOPPED)
        followup = _end(stack, deployment, interrupted, Deployment.Status.INTERRUPTED, error=Deployment.STOPPED)
        try:  # queued now, to run on the next start or on another node
            if followup is None:  # (a follow-up deploys the newest state anyway)
                deployment_rerun(deployment)
        except DatabaseError as exc:  # then the next start queues it (recovery)
            log.warning("deployment %s: its re-run could not be queued yet: %s", deployment.pk, exc)
    elif watch.stop.is_set():
        message = f"Cancelled by {watch.cancelled_by}"
        _say(output, message)
        _end(stack, deployment, SyncOutcome(ok=False, error=message), Deployment.Status.CANCELLED, error=message)
    elif error:
        _say(output, f"ERROR: {error}")
        failed = SyncOutcome(ok=False, error=error, branch_missing=branch_missing)
        _end(stack, deployment, failed, Deployment.Status.FAILED, error=error, remote_unreachable=unreachable)
        if outcome.compose_ran and stack.auto_rollback and deployment.trigger != Deployment.Trigger.ROLLBACK:
            _roll_back_after(stack, deployment, output)
    elif not outcome.deployed:
        _end(stack, deployment, SyncOutcome(ok=True), Deployment.Status.SKIPPED)
    else:
        pinned = deployment.target_commit if deployment.rollback_to_id is None else ""
        applied = SyncOutcome(ok=True, commit=deployment.commit_sha, config=outcome.config, pinned=pinned)
        _end(stack, deployment, applied, Deployment.Status.SUCCESS, deployed=True)
        Repository.objects.filter(pk=stack.repository_id).update(last_commit=deployment.commit_sha)
    wake_viewers(deployment.pk)
    if outcome.status_posted:
        deployment_status_post(deployment, "success" if deployment.status == Deployment.Status.SUCCESS else "failure")
    deployment_notify(deployment, branch_missing=branch_missing)
    return deployment


def _say(output: DeploymentOutput, line: str) -> None:
    """A last output line, if the database takes it: the deployment's end is written
    whether or not it does (its error says the same)."""
    try:
        output.line(line)
    except DatabaseError as exc:
        log.warning("deployment %s: could not store its last line: %s", output.deployment.pk, exc)


def _end(
    stack: GitStack, deployment: Deployment, outcome: SyncOutcome, status: str, **fields: Any
) -> Deployment | None:
    """Finish the deployment and give its stack's lock back (to a pending follow-up, if
    any: returned), through transient database errors: for as long as the lock would
    last, after which the reaper takes it back anyway."""
    within = settings.LOCK_LEASE
    durably(lambda: deployment.finish(status, **fields), what=f"finishing deployment {deployment.pk}", within=within)
    return durably(
        lambda: lock_release(stack, deployment.pk, outcome),
        what=f"releasing stack {stack.pk} after deployment {deployment.pk}",
        within=within,
    )


def _roll_back_after(stack: GitStack, failed: Deployment, output: DeploymentOutput) -> None:
    try:
        rollback = stack_rollback(stack=stack, by=None, automatic=True)
    except NothingToRollBack:
        output.line("autoRollback: no earlier successful deployment to return to")
    except Exception as exc:  # the failure is recorded already; say why no rollback
        output.line(f"autoRollback did not start: {exc}")
    else:
        output.line(f"autoRollback: deployment #{rollback.number} redeploys {rollback.target_commit[:12]}")


@dataclass(frozen=True)
class _Run:
    """One deployment being run, and what each of its steps uses."""

    stack: GitStack
    deployment: Deployment
    auth: git.GitAuth | None
    output: DeploymentOutput
    stop: threading.Event
    outcome: _Outcome


def _sync(run: _Run) -> None:
    """Steps 2–7 of spec §4. A rollback or a pinned sync deploys its target commit
    instead of the branch head."""
    stack, deployment, output, outcome = run.stack, run.deployment, run.output, run.outcome
    target = deployment.target_commit
    # An approved deploy runs exactly the commit and settings its approver was shown.
    approved = deployment.commit_sha if deployment.reviewed_by else ""
    if stack.stopped_by_user and not target:
        _note(deployment, output, STOPPED_NOTE)
        return
    refused = secret_inputs_refresh(stack=stack)  # a value rotated in its store is a change to apply
    if refused:
        raise DeployError(refused)
    config = outcome.config = stack_config(stack)
    if approved and deployment.revision and revision(approved, config) != deployment.revision:
        raise DeployError(CHANGED_SINCE_APPROVAL)
    applied = config == stack.applied_config and not deployment.force  # (then the commit decides)
    if target and deployment.rollback_to_id is None and applied and target == stack.last_commit:
        stack.record(pinned_commit=target)  # pinned to the commit that runs: nothing to do
        _unchanged(deployment, output, target)
        return
    if deployment.followup and applied and not (target or approved or deployment.commit_sha) and _head_unchanged(run):
        return
    workdir = settings.STACKS_DIR / str(stack.pk) / "repo"
    run_id = f"deployment-{deployment.pk}"
    # `compose config` starts while git fetches (it waits to read the files until then).
    with stack_config_ahead(stack, workdir, run_id) as ahead:
        _fetch_and_deploy(run, workdir=workdir, run_id=run_id, config=config, applied=applied, ahead=ahead)


def _head_unchanged(run: _Run) -> bool:
    """A follow-up asks where the branch is before it fetches: the pushes it stands for
    were mostly fetched by the sync before it, and under a flood of them this is one
    `ls-remote` where a fetch, a checkout and a `compose config` started ahead would
    find the same commit. True when it ended so, as the fetch below would have."""
    stack = run.stack
    try:
        head = git.remote_head(url=stack.repository.url, branch=stack.branch, auth=run.auth)
    except git.GitError:
        return False  # the fetch tries again, and says what failed
    stack.record(remote_head=head)
    if head != stack.last_commit:
        return False
    _at_branch_head(run, head)
    return True


def _at_branch_head(run: _Run, sha: str) -> None:
    """End a sync that found the deployed commit at the branch head, nothing else changed."""
    if run.stack.pinned_commit:  # pinned to what is the branch head now: pinned no more
        run.stack.record(pinned_commit="")
    _unchanged(run.deployment, run.output, sha)


def _fetch_and_deploy(
    run: _Run, *, workdir: Path, run_id: str, config: Config, applied: bool, ahead: compose.HeldConfig | None
) -> None:
    """Steps 2–7 from the fetch on (`_sync` decided a deploy may be needed); `applied`:
    the settings are those last applied, so the commit decides."""
    stack, deployment, output, stop, outcome = run.stack, run.deployment, run.output, run.stop, run.outcome
    target = deployment.target_commit
    approved = deployment.commit_sha if deployment.reviewed_by else ""
    # The branch is fetched at once, not asked for its head first: a push's deploy is one
    # git round trip, and an unchanged head (rare here: the waiting caller and the clock
    # find those before the queue) fetches nothing new.
    commit = git.checkout(
        workdir=workdir, url=stack.repository.url, branch=stack.branch, auth=run.auth, commit=target or approved
    )
    if not target:  # what was just fetched is the branch head now
        stack.record(remote_head=commit.sha)
    if not target and not deployment.commit_sha and applied and commit.sha == stack.last_commit:
        _at_branch_head(run, commit.sha)
        return
    _record_commit(deployment, sha=commit.sha, message=commit.message, author=commit.author)
    deployment.record(revision=revision(commit.sha, config), config=config)
    outcome.status_posted = deployment_status_post(deployment, "pending") is not None
    subject = commit.message.splitlines()[0] if commit.message else ""
    if deployment.rollback_to_id is not None:
        what = f"Rolling back to {commit.sha[:12]}"
    elif target:
        what = f"Deploying pinned commit {commit.sha[:12]} of {stack.branch}"
    elif approved:
        what = f"Deploying {commit.sha[:12]} of {stack.branch}, as approved by {deployment.reviewed_by}"
    else:
        what = f"Deploying {commit.sha[:12]} of {stack.branch}"
    output.line(f"{what}: {subject}")
    if stop.is_set():
        return
    outcome.compose_ran = True
    rollback = deployment.rollback_to
    deployed = stack_deploy(
        stack=stack,
        workdir=workdir,
        metadata=git_metadata(stack, commit),
        run_id=run_id,  # the one `compose config` was started ahead for
        ahead=ahead,
        on_line=output.line,
        stop=stop,
        on_secrets=output.also_mask,
        # A rollback runs exactly the digests its target ran, even if the tags moved.
        pins={e["service"]: e for e in rollback.images if e.get("digest")} if rollback else None,
        pull=() if rollback else services_to_pull(stack),
    )
    outcome.config = with_applied(config, deployed.secret_inputs)
    if outcome.config != config:  # (secret inputs first read, or changed since the check)
        deployment.record(revision=revision(commit.sha, outcome.config), config=outcome.config)
    if stop.is_set():
        return
    # Stored and shown like commit metadata: without terminal control sequences.
    snapshot = {key: plain_text(value) for key, value in deployed.env_snapshot.items()}
    resolved = _resolved_text(deployed.model, output.secrets)
    if target and stack.stopped_by_user:  # a pinned or rolled-back commit runs again
        stack.record(stopped_by_user=False)
    pushed = ", ".join(deployed.pushed)
    # An image reference may carry an interpolated secret (`app:${TAG}`): kept masked, as
    # everything else a deployment shows.
    shown = [{k: mask(v, output.secrets) if isinstance(v, str) else v for k, v in e.items()} for e in deployed.images]
    deployment.record(env_snapshot=snapshot, images=shown, resolved=resolved, pushed_image=mask(pushed, output.secrets))
    stack.record(deployed_config_hashes=deployed.config_hashes)
    # What it ran is what the tags are now, as far as this stack knows: the revision applied.
    stack_images_ran(stack=stack, ran=deployed.images)
    config = outcome.config = stack_config(stack)
    deployment.record(revision=revision(commit.sha, config), config=config)
    outcome.deployed = True


def _resolved_text(model: dict[str, object], secrets: Iterable[str]) -> str:
    """The resolved compose model as YAML, every secret value masked: in each string
    before dumping (YAML may quote, escape or fold a value, and a mask of the text would
    then miss it), and in the text after. Empty when there is no model."""
    secrets = tuple(secrets)

    def masked(node: Any) -> Any:
        if isinstance(node, str):
            return mask(node, secrets)
        if isinstance(node, dict):
            return {masked(key): masked(value) for key, value in node.items()}
        if isinstance(node, list):
            return [masked(item) for item in node]
        return node

    if not model:
        return ""
    # No folding of long lines: a value reads as compose printed it.
    text = yaml.safe_dump(masked(model), sort_keys=False, allow_unicode=True, width=2**31)
    return mask(text, secrets)


def _unchanged(deployment: Deployment, output: DeploymentOutput, sha: str) -> None:
    _record_commit(deployment, sha=sha)
    _note(deployment, output, UNCHANGED_NOTE)


def _note(deployment: Deployment, output: DeploymentOutput, note: str) -> None:
    deployment.record(note=note)
    output.line(note)


def _record_commit(deployment: Deployment, *, sha: str, message: str = "", author: str = "") -> None:
    # Commit metadata is repository data: stored without terminal control sequences.
    deployment.record(commit_sha=sha, commit_message=plain_text(message), commit_author=plain_text(author))
