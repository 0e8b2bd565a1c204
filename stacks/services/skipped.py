"""Scheduled checks that find nothing to do, recorded many at a time.

At the minute thousands of stacks may be due, most of them unchanged: the branch head is
the deployed commit and the desired revision the applied one. Each still gets its
`skipped` deployment, as any sync that finds nothing to do, but not through the lock,
the queue and a dozen statements apiece: a chunk of stacks is written in one short
transaction (a few statements whatever its size), so the clock gets through 5,000
stacks inside the minute, and web requests wait for one chunk at most, never for all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from dockhand.audit import record_each
from stacks.models import Deployment, DeploymentLine, GitStack
from stacks.services.notifications import deployment_notify
from stacks.services.revision import stack_config

UNCHANGED_NOTE = "Already up to date: no new commit and no change since the last deploy"
CHUNK = 200


def unchanged(stack: GitStack, head: str | None) -> bool:
    """Whether a sync of `stack` at branch head `head` has nothing to do: that is the
    deployed commit, and nothing else changed since (overrides, options, engine). A
    pinned or user-stopped stack is never "unchanged": its sync has more to decide."""
    if not head or head != stack.last_commit or stack.pinned_commit or stack.stopped_by_user:
        return False
    return stack_config(stack) == stack.applied_config


def skipped_record(stacks: Sequence[GitStack], heads: Mapping[int, str]) -> dict[int, int]:
    """A finished `skipped` scheduled deployment for each of `stacks` (each unchanged at
    its head in `heads`) whose lock is free: stack id → deployment id. A stack whose
    lock is held is left out, to the caller's one-by-one path (which joins the follow-up)."""
    done: dict[int, int] = {}
    for start in range(0, len(stacks), CHUNK):
        done.update(_chunk_record(stacks[start : start + CHUNK], heads))
    return done


def _chunk_record(stacks: Iterable[GitStack], heads: Mapping[int, str]) -> dict[int, int]:
    by_id = {stack.pk: stack for stack in stacks}
    now = timezone.now()
    worker = f"{settings.NODE_NAME}:{os.getpid()}"
    with transaction.atomic():
        # The row locks (PostgreSQL; SQLite's IMMEDIATE transaction is one writer
        # already) keep a sync from taking a lock, or a number, in between.
        free = GitStack.objects.select_for_update().filter(pk__in=by_id, lock_owner__isnull=True)
        ids = list(free.values_list("pk", flat=True))
        numbers = dict(
            Deployment.objects.filter(stack_id__in=ids)
            .values("stack_id")
            .annotate(last=Max("number"))
            .values_list("stack_id", "last")
        )
        deployments = Deployment.objects.bulk_create(
            Deployment(
                stack=by_id[pk],
                number=(numbers.get(pk) or 0) + 1,
                trigger=Deployment.Trigger.SCHEDULE,
                status=Deployment.Status.SKIPPED,
                commit_sha=heads[pk],
                note=UNCHANGED_NOTE,
                requested_by="schedule",
                started_at=now,
                finished_at=now,
                duration_ms=0,
                worker=worker,
            )
            for pk in ids
        )
        DeploymentLine.objects.bulk_create(
            DeploymentLine(deployment=d, seq=1, text=UNCHANGED_NOTE) for d in deployments
        )
        GitStack.objects.filter(pk__in=ids).update(
            sync_status=GitStack.SyncStatus.SUCCESS,
            sync_error="",
            last_sync=now,
            branch_missing=False,
            remote_head=F("last_commit"),  # the head each was found at
        )
        made = {pk: d.pk for pk, d in zip(ids, deployments, strict=True)}
        record_each("stack.sync", [by_id[pk] for pk in ids], lambda s: f"deployment={made[s.pk]} trigger=schedule")
    for deployment in deployments:
        deployment_notify(deployment)
    return made
