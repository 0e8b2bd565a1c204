"""Start-up recovery: what a killed worker leaves behind is cleaned before work resumes."""

from __future__ import annotations

import logging
import shutil

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from dockhand.audit import record
from dockhand.node import stop_clear
from stacks import compose
from stacks.models import Deployment, GitStack
from stacks.services.lock import Holder, lock_abandon
from stacks.services.sync import deployment_requeue, deployment_rerun

log = logging.getLogger(__name__)


def recover_after_restart() -> dict[str, int]:
    """Run once on a node before its worker starts (`serve` does, and a `qcluster` run
    alone), while it holds the node lock (`dockhand.node`): no process of its previous
    run is alive.

    Orphaned compose runs are killed and per-run temp dirs (SSH keys, askpass) and
    generated env files removed (and an engine's TLS files). Then every held stack lock is looked at:
    - a queued deployment is handed to the worker again: its task may have died in the
      old worker's hands, and a duplicate delivery runs nothing twice (`start()`);
    - a running deployment of this node's previous worker is dead: it ends
      `interrupted` at once (not when its lease runs out), and any pending follow-up
      runs, or else the deployment runs again once (trigger `recovery`);
    - a deployment a stop interrupted runs again, if that was not queued then;
    - any other lock is taken back only once its lease ran out (it may belong to a
      live worker on another node).
    """
    killed = compose.kill_orphans()
    removed = 0
    if settings.RUN_DIR.exists():
        for leftover in settings.RUN_DIR.iterdir():
            # A run's own DOCKER_CONFIG (registry logins) and its generated compose
            # files (a rollback's digests, decrypted env_file variables) hold secrets too.
            if leftover.name.startswith(("git-", "engine-", "docker-config-")) and leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
                removed += 1
            elif leftover.suffix in (".env", ".partial", ".yaml"):
                leftover.unlink(missing_ok=True)
                removed += 1
    stop_clear()  # a stop announced to the previous workers is over
    interrupted, requeued, rerun = _take_back(GitStack.objects.filter(lock_owner__isnull=False), this_node=True)
    summary = {
        "killed": len(killed),
        "removed": removed,
        "interrupted": interrupted,
        "requeued": requeued,
        "rerun": rerun + _rerun_stopped(),
    }
    if any(summary.values()):
        log.warning("recovered after restart: %s", summary)
    return summary


def locks_reap() -> dict[str, int]:
    """Take back every stack lock whose lease ran out, on every node, on every tick of
    the clock: a queued deployment is handed to the worker again (its lease starts
    over), a running one whose worker stopped renewing ends `interrupted`, and the
    stack's pending follow-up (a push that arrived meanwhile) runs, or the deployment
    runs again once. Nobody has to act, on whichever node is alive."""
    expired = GitStack.objects.filter(lock_owner__isnull=False, lock_expires__lt=timezone.now())
    interrupted, requeued, _ = _take_back(expired, this_node=False)
    if interrupted or requeued:
        log.warning("reaped expired stack locks: %d interrupted, %d queued again", interrupted, requeued)
    return {"interrupted": interrupted, "requeued": requeued}


def _take_back(held: QuerySet[GitStack], *, this_node: bool) -> tuple[int, int, int]:
    """Look at each held lock: queued work is handed over again; a lock whose lease ran
    out, whose deployment ended, or (`this_node`, at start-up) whose deployment ran in
    this node's previous worker is freed, and its deployment runs again. How many were
    interrupted, queued again and run again."""
    now = timezone.now()
    interrupted = requeued = rerun = 0
    for stack in held:
        owner = stack.lock_owner or 0
        deployment = Deployment.objects.select_related("stack").filter(pk=owner).first() if owner > 0 else None
        if deployment is not None and deployment.status == Deployment.Status.QUEUED:
            deployment_requeue(deployment)
            requeued += 1
            continue
        expired = stack.lock_expires is None or stack.lock_expires < now
        ours = this_node and deployment is not None and deployment.worker.startswith(f"{settings.NODE_NAME}:")
        dangling = deployment.is_finished if deployment is not None else owner != Holder.OPERATION
        if expired or ours or dangling:
            lost = deployment is not None and not deployment.is_finished
            followup = lock_abandon(stack, owner)
            record("stack.lock_taken_back", stack, f"holder={owner} expired={expired}")
            if lost and deployment is not None:
                interrupted += 1
                # A follow-up deploys the newest state anyway. And once only: a deploy
                # that itself kills its worker must not loop.
                if followup is None and deployment.trigger != Deployment.Trigger.RECOVERY:
                    rerun += deployment_rerun(deployment) is not None
    return interrupted, requeued, rerun


def _rerun_stopped() -> int:
    """Deployments a stop interrupted whose re-run was not queued then (the database
    failed it, or the node went down first): the newest of their stack runs again."""
    stopped = Deployment.objects.filter(
        status=Deployment.Status.INTERRUPTED, error=Deployment.STOPPED, retries__isnull=True, stack__isnull=False
    )
    rerun = 0
    for deployment in stopped:
        newest = Deployment.objects.filter(stack_id=deployment.stack_id).values_list("pk", flat=True).first()
        if newest == deployment.pk and deployment_rerun(deployment) is not None:
            rerun += 1
    return rerun
