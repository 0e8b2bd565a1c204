"""Auto-update schedules: one django-q2 CRON Schedule per stack with autoUpdate."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django_q.models import Schedule

from stacks.models import GitStack

TASK = "gitsync.tasks.scheduled_sync"
# Offered by the API (`autoUpdateSchedule`) and the stack form.
CRON_PRESETS = {
    "hourly": "0 * * * *",
    "daily": "0 3 * * *",
    "every6h": "0 */6 * * *",
    "weekly": "0 3 * * 1",
}


def schedule_name(stack_id: int) -> str:
    return f"stack-{stack_id}-auto-update"


def next_runs(cron: str, count: int, *, after: datetime | None = None) -> list[datetime]:
    """The next `count` times `cron` fires, in DOCKHAND_TIME_ZONE."""
    start = (after or timezone.now()).astimezone(ZoneInfo(settings.TIME_ZONE))
    it = croniter(cron, start)
    return [it.get_next(datetime) for _ in range(count)]


def stack_schedule_apply(*, stack: GitStack) -> None:
    """Create, change or remove the stack's Schedule to match autoUpdate / autoUpdateCron."""
    name = schedule_name(stack.pk)
    if not stack.auto_update:
        Schedule.objects.filter(name=name).delete()
        return
    current = Schedule.objects.filter(name=name).first()
    if current and current.cron == stack.auto_update_cron:
        return  # unchanged: keep its next_run
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": TASK,
            "args": repr(stack.pk),
            "schedule_type": Schedule.CRON,
            "cron": stack.auto_update_cron,
            "repeats": -1,
            "next_run": next_runs(stack.auto_update_cron, 1)[0],
        },
    )


def stack_schedule_remove(*, stack_id: int) -> None:
    Schedule.objects.filter(name=schedule_name(stack_id)).delete()


def next_sync_subquery() -> Subquery:
    """Annotation for GitStack querysets: the next scheduled sync (no query per stack)."""
    name = Concat(Value("stack-"), Cast(OuterRef("pk"), CharField()), Value("-auto-update"))
    return Subquery(Schedule.objects.filter(name=name).values("next_run")[:1])
