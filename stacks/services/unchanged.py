"""Finding an unchanged branch where the caller is, without a trip through the queue:
a waiting API call, a page's "sync" click or a schedule tick costs one `ls-remote`."""

from __future__ import annotations

import os

from django.conf import settings
from django.utils import timezone

from gitsync import git
from gitsync.services.auth import git_auth
from stacks.models import Deployment
from stacks.services.lock import SyncOutcome, lock_release
from stacks.services.notifications import deployment_notify
from stacks.services.output import DeploymentOutput, wake_viewers
from stacks.services.secret_inputs import secret_inputs_refresh
from stacks.services.skipped import UNCHANGED_NOTE, unchanged


def deployment_check_unchanged(*, deployment: Deployment, head: str | None = None) -> bool:
    """When the branch head is still the deployed commit, end the queued deployment as
    skipped, exactly as the worker would. False, the deployment left queued for the
    worker, whenever more is needed (a new commit, a forced sync or a rollback, a git
    error the worker will retry and record). `head`: the branch head when the caller
    has just read it (the clock reads it once for stacks that share it)."""
    stack = deployment.stack
    if stack is None or deployment.force or deployment.target_commit:
        return False
    if secret_inputs_refresh(stack=stack):
        return False  # a store that cannot answer: the worker fails the deploy, saying why
    if not unchanged(stack, stack.last_commit):
        return False  # more than the commit to look at (before asking the remote): the worker deploys or unpins
    auth = git_auth(stack.repository.credential)
    if head is None:
        try:
            head = git.remote_head(url=stack.repository.url, branch=stack.branch, auth=auth)
        except git.GitError:
            return False
    if head != stack.last_commit:
        stack.record(remote_head=head)
        # The worker need not ask the remote again: it fetches the branch next.
        deployment.record(commit_sha=head)
        return False
    DeploymentOutput(deployment, list(auth.secrets if auth else ()), new=True).line(UNCHANGED_NOTE)
    # Never handed to a worker, so it goes from queued to skipped in one step (unless
    # it was cancelled in between).
    worker = f"{settings.NODE_NAME}:{os.getpid()}"
    if not deployment.finish(
        Deployment.Status.SKIPPED, commit_sha=head, note=UNCHANGED_NOTE, started_at=timezone.now(), worker=worker
    ):
        stack.record(remote_head=head)
        return False
    lock_release(stack, deployment.pk, SyncOutcome(ok=True, seen_head=head))
    wake_viewers(deployment.pk)
    deployment_notify(deployment)
    return True
