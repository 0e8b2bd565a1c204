"""Auto-update schedules. Each stack with autoUpdate keeps the next time its cron fires
(`next_auto_sync`); a clock wakes at every minute, claims the stacks that are due and
checks them side by side, bounded (DOCKHAND_AUTO_SYNC_CONCURRENCY).

One clock for all stacks rather than one queued task per stack: 500 stacks on the same
minute cost one claim and their checks a few at a time, not 500 trips through the
task queue behind whatever long deploy the workers are running. Stacks that follow the
same branch of the same repository with the same credential (a repository of many
stacks is common) share one `ls-remote`: the server is asked once per branch a minute.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dockhand.audit import acting_as, record
from gitsync import git
from gitsync.services.auth import git_auth
from stacks.models import Deployment, GitStack
from stacks.services.images import scheduled_hold, stack_images_refresh
from stacks.services.revision import stack_config
from stacks.services.sync import auto_sync_refusal, stack_sync_coalesced

log = logging.getLogger(__name__)

# Offered by the API (`autoUpdateSchedule`) and the stack form.
CRON_PRESETS = {
    "hourly": "0 * * * *",
    "daily": "0 3 * * *",
    "every6h": "0 */6 * * *",
    "weekly": "0 3 * * 1",
}


def next_runs(cron: str, count: int, *, after: datetime | None = None) -> list[datetime]:
    """The next `count` times `cron` fires, in DOCKHAND_TIME_ZONE."""
    start = (after or timezone.now()).astimezone(ZoneInfo(settings.TIME_ZONE))
    it = croniter(cron, start)
    return [it.get_next(datetime) for _ in range(count)]


def stack_schedule_apply(*, stack: GitStack, cron_changed: bool = True) -> None:
    """Set (or clear) when the stack is next due, after its autoUpdate settings changed.
    An unchanged cron keeps a time already set, so saving a stack delays nothing."""
    if not stack.auto_update:
        when = None
    elif stack.next_auto_sync and not cron_changed:
        return
    else:
        when = next_runs(stack.auto_update_cron, 1)[0]
    stack.record(next_auto_sync=when)


def due_stacks_claim(now: datetime) -> list[int]:
    """The stacks due at `now`, each moved on to its next time by a conditional UPDATE:
    several clocks (one per node) may look at once, and each due stack goes to exactly
    one of them. A stack missed during downtime runs once, then waits for its next time."""
    claimed = []
    due = GitStack.objects.filter(auto_update=True, next_auto_sync__lte=now)
    for pk, cron, when in due.values_list("pk", "auto_update_cron", "next_auto_sync"):
        following = next_runs(cron, 1, after=now)[0]
        if GitStack.objects.filter(pk=pk, next_auto_sync=when).update(next_auto_sync=following):
            claimed.append(pk)
    return claimed


Branch = tuple[str, str, int | None]  # repository url, branch, credential id


def _branch_heads(stack_ids: list[int], pool: Executor) -> dict[int, str]:
    """The remote head of each stack's branch, one `ls-remote` per distinct branch. A
    branch that cannot be read is left out: that stack's own check asks again and
    records why it failed."""
    stacks = GitStack.objects.filter(pk__in=stack_ids).select_related("repository__credential")
    by_branch: dict[Branch, list[int]] = {}
    credentials = {}
    for stack in stacks:
        key = (stack.repository.url, stack.branch, stack.repository.credential_id)
        by_branch.setdefault(key, []).append(stack.pk)
        credentials[key] = stack.repository.credential

    def head(key: Branch) -> str | None:
        try:
            return git.remote_head(url=key[0], branch=key[1], auth=git_auth(credentials[key]))
        except git.GitError:
            return None

    keys = list(by_branch)
    heads = dict(zip(keys, pool.map(head, keys), strict=True))
    return {pk: sha for key, sha in heads.items() if sha for pk in by_branch[key]}


def auto_sync_tick(now: datetime | None = None) -> dict[int, str]:
    """Check every due stack, AUTO_SYNC_CONCURRENCY at a time; what each check did."""
    claimed = due_stacks_claim(now or timezone.now())
    if not claimed:
        return {}

    def check(pk: int) -> str:
        try:
            return stack_sync_scheduled(stack_id=pk, head=heads.get(pk))
        except Exception as exc:  # one stack's trouble must not stop the others' checks
            log.exception("scheduled check of stack %s failed", pk)
            return f"failed: {exc}"
        finally:
            if workers > 1:
                connection.close()  # this pool thread's own connection

    workers = min(settings.AUTO_SYNC_CONCURRENCY, len(claimed))
    with ThreadPoolExecutor(workers, thread_name_prefix="auto-sync") as pool:
        heads = _branch_heads(claimed, pool)
        if workers == 1:
            return {pk: check(pk) for pk in claimed}
        return dict(zip(claimed, pool.map(check, claimed), strict=True))


def stack_sync_scheduled(*, stack_id: int, head: str | None = None) -> str:
    """A stack's auto-update schedule fired: sync, or join the follow-up of a running
    one; what was done, in words. `head`: the branch head the clock just read for this
    stack (None: read it here)."""
    stack = GitStack.objects.filter(pk=stack_id, auto_update=True).first()
    if stack is None:
        return "no such stack with autoUpdate"
    stack_images_refresh(stack=stack)  # a newer image digest is part of what it syncs
    with acting_as("schedule"):
        refusal = auto_sync_refusal(stack) or scheduled_hold(stack, head, stack_config(stack))
        if refusal:
            record("stack.sync_refused", stack, refusal)
            return refusal
        deployment = stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.SCHEDULE, check_here=True, head=head)
    return f"deployment {deployment.pk}" if deployment else "follow-up pending"
