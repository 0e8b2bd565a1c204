"""Commit statuses: each deploy tells the forge that hosts its repository `pending`,
then `success` or `failure`, with a link to the deployment's page.

Posted off the deploy's path, by one thread in order (so `pending` never lands after the
result): a forge that is slow or down costs the deploy nothing, and its failure is logged.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.urls import reverse

from gitsync import forge
from gitsync.services.forges import ForgeRefused, repository_forge
from stacks.models import Deployment

log = logging.getLogger(__name__)

_POSTERS: dict[int, ThreadPoolExecutor] = {}


def _poster() -> ThreadPoolExecutor:
    """This process's posting thread: a worker forked from a process that had one
    inherits the executor but not its thread, which would then never run."""
    pid = os.getpid()
    if pid not in _POSTERS:
        _POSTERS[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit-status")
    return _POSTERS[pid]


def deployment_status_post(deployment: Deployment, state: str) -> Future[None] | None:
    """Queue the commit status `state` (pending, success, failure) of the deployment's
    commit; None when there is nothing to post to."""
    stack = deployment.stack
    if stack is None or not deployment.commit_sha:
        return None
    try:
        target = repository_forge(stack.repository)
    except ForgeRefused as exc:
        log.warning("commit status for %s not sent: %s", stack.repository.name, exc)
        return None
    if target is None:
        return None
    page = f"{settings.PUBLIC_URL}{reverse('deployment-detail', args=[deployment.pk])}" if settings.PUBLIC_URL else ""
    words = {"pending": "deploying", "success": "deployed", "failure": "failed to deploy"}[state]
    description = f"#{deployment.number} {words} to {stack.environment.name}"
    context = f"dockhand/{stack.environment.name}/{stack.name}"
    return _poster().submit(
        _post, target, stack.repository.forge_repo, deployment.commit_sha, state, page, description, context
    )


def _post(target: forge.Forge, repo: str, sha: str, state: str, page: str, description: str, context: str) -> None:
    try:
        forge.post_status(
            target, repo=repo, sha=sha, state=state, target_url=page, description=description, context=context
        )
    except forge.ForgeError as exc:
        log.warning("commit status %s for %s@%s not posted: %s", state, repo, sha[:12], exc)
    except Exception:  # a thread of its own: nothing else would see it
        log.exception("commit status %s for %s@%s not posted", state, repo, sha[:12])
