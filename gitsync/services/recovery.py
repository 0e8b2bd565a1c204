"""Start-up recovery: what a killed worker leaves behind is cleaned before work resumes."""

from __future__ import annotations

import logging
import shutil

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from gitsync.services.sync import WORKER_LOST
from stacks import compose
from stacks.models import Deployment, GitStack

log = logging.getLogger(__name__)


def recover_after_restart() -> dict[str, int]:
    """Run once before the worker starts (`serve` does).

    Orphaned compose runs are killed, per-run temp dirs (SSH keys, askpass) and
    generated env files are removed, and syncs whose lease ran out end `interrupted`
    with their stacks unlocked. Queued work whose lease still holds is left alone:
    the broker hands it to the new worker.
    """
    killed = compose.kill_orphans()
    removed = 0
    if settings.RUN_DIR.exists():
        for leftover in settings.RUN_DIR.iterdir():
            if leftover.name.startswith("git-") and leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
                removed += 1
            elif leftover.suffix == ".env":
                leftover.unlink(missing_ok=True)
                removed += 1
    now = timezone.now()
    stale = GitStack.objects.filter(lock_owner__isnull=False).filter(Q(lock_expires__lt=now) | Q(lock_owner=0))
    interrupted = 0
    for stack in stale:
        owner = stack.lock_owner
        deployment = Deployment.objects.filter(pk=owner).first() if owner else None
        if deployment is not None and not deployment.is_finished:
            deployment.finish(Deployment.Status.INTERRUPTED, error=WORKER_LOST)
            interrupted += 1
        GitStack.objects.filter(pk=stack.pk, lock_owner=owner).update(
            lock_owner=None,
            lock_expires=None,
            sync_status=GitStack.SyncStatus.FAILED,
            sync_error=WORKER_LOST,
            sync_pending=False,
        )
    summary = {"killed": len(killed), "removed": removed, "interrupted": interrupted}
    if any(summary.values()):
        log.warning("recovered after restart: %s", summary)
    return summary
