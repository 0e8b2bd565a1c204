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
from django.db import connection, transaction
from django.utils import timezone

from dockhand.audit import acting_as, record
from gitsync import git
from gitsync.models import Credential
from gitsync.services.auth import git_auth
from stacks.models import Deployment, GitStack
from stacks.services.access import deploy_needs_approval
from stacks.services.images import last_ran_of, scheduled_hold, stack_images_refresh
from stacks.services.revision import stack_config
from stacks.services.secret_inputs import secret_inputs_refresh
from stacks.services.skipped import skipped_record, unchanged
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
    """The stacks due at `now`, each moved on to its next time. Several clocks (one per
    node) may look at once, and each due stack goes to exactly one of them: the due rows
    are read and moved in one transaction, locked as read (PostgreSQL, skipping rows
    another clock holds; SQLite's IMMEDIATE transaction is one writer already). One
    UPDATE per schedule, not per stack: thousands may be due on the same minute. A
    stack missed during downtime runs once, then waits for its next time."""
    with transaction.atomic():
        due = GitStack.objects.select_for_update(skip_locked=True).filter(auto_update=True, next_auto_sync__lte=now)
        by_cron: dict[str, list[int]] = {}
        for pk, cron in due.values_list("pk", "auto_update_cron"):
            by_cron.setdefault(cron, []).append(pk)
        for cron, ids in by_cron.items():
            GitStack.objects.filter(pk__in=ids).update(next_auto_sync=next_runs(cron, 1, after=now)[0])
    return [pk for ids in by_cron.values() for pk in ids]


Branch = tuple[str, str, int | None]  # repository url, branch, credential id


def _branch_heads(stacks: list[GitStack], pool: Executor) -> dict[int, str]:
    """The remote head of each stack's branch, one `ls-remote` per distinct branch. A
    branch that cannot be read is left out: that stack's own check asks again and
    records why it failed.

    At most AUTO_SYNC_PER_FORGE of them at once against one host (forges of different
    hosts side by side): a forge answers a burst of parallel requests no sooner than a
    few at a time (and GitHub throttles such bursts), and a forge on this machine (a
    self-hosted Gitea, the benchmark's git server) had 16 `ls-remote`s, some 80
    processes, fighting the web processes for the cores: the pages answered slower
    while the clock read 50 repositories' heads, whatever CPU priority the clock's
    side ran at; two at a time read them as fast (benchmark #10, bench/notes.md)."""
    by_branch: dict[Branch, list[int]] = {}
    credentials: dict[Branch, Credential | None] = {}
    for stack in stacks:
        key = (stack.repository.url, stack.branch, stack.repository.credential_id)
        by_branch.setdefault(key, []).append(stack.pk)
        credentials[key] = stack.repository.credential

    # Each forge's branches in AUTO_SYNC_PER_FORGE lanes, each lane one task reading
    # its branches one after another: no pool thread stands waiting for its forge's
    # turn while another forge's branches wait behind it in the queue.
    by_forge: dict[str | None, list[Branch]] = {}
    for key in by_branch:
        by_forge.setdefault(git.url_host(key[0]), []).append(key)
    width = settings.AUTO_SYNC_PER_FORGE
    lanes = [keys[n::width] for keys in by_forge.values() for n in range(min(width, len(keys)))]

    def read(lane: list[Branch]) -> list[tuple[Branch, str | None]]:
        return [(key, _head(key, credentials[key])) for key in lane]

    heads = dict(pair for done in pool.map(read, lanes) for pair in done)
    return {pk: sha for key, sha in heads.items() if sha for pk in by_branch[key]}


def _head(key: Branch, credential: Credential | None) -> str | None:
    try:
        return git.remote_head(url=key[0], branch=key[1], auth=git_auth(credential))
    except git.GitError:
        return None


def _plainly_unchanged(stacks: list[GitStack], heads: dict[int, str]) -> list[GitStack]:
    """The stacks whose check is a plain `skipped`: unchanged at their head, free, and
    in an environment where an automatic sync needs no one's approval."""
    found = []
    ran = last_ran_of([stack.pk for stack in stacks])  # one query, not one per stack
    for stack in stacks:
        if stack.lock_owner is not None or auto_sync_refusal(stack):
            continue
        # A secret rotated in its store, or a tag moved at its registry, is a change
        # too (a store that cannot answer is left to the one-by-one path, which fails
        # the deploy saying why; so is a stack whose asking failed in any other way,
        # which must not drop the other stacks' tick).
        try:
            stack_images_refresh(stack=stack, ran=ran.get(stack.pk, []))
            if secret_inputs_refresh(stack=stack) or not unchanged(stack, heads.get(stack.pk)):
                continue
        except Exception:
            log.exception("checking stack %s for changes failed; it is checked on its own", stack.pk)
            continue
        if not deploy_needs_approval(None, stack.environment):
            found.append(stack)
    return found


def auto_sync_tick(now: datetime | None = None) -> dict[int, str]:
    """Check every due stack; what each check did. The unchanged ones are recorded
    `skipped` in bulk (stacks/services/skipped.py); the others are synced,
    AUTO_SYNC_CONCURRENCY at a time."""
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

    stacks = list(
        GitStack.objects.filter(pk__in=claimed, auto_update=True)
        .select_related("environment", "repository__credential")
        .prefetch_related("env_vars")
    )
    workers = min(settings.AUTO_SYNC_CONCURRENCY, len(claimed))
    with ThreadPoolExecutor(workers, thread_name_prefix="auto-sync") as pool:
        heads = _branch_heads(stacks, pool)
        with acting_as("schedule"):
            done = {pk: f"deployment {d}" for pk, d in skipped_record(_plainly_unchanged(stacks, heads), heads).items()}
        rest = [pk for pk in claimed if pk not in done]
        if workers == 1 or len(rest) <= 1:
            return {**done, **{pk: check(pk) for pk in rest}}
        return {**done, **dict(zip(rest, pool.map(check, rest), strict=True))}


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
