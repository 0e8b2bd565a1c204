# Auto-update moves from one django-q2 Schedule per stack to the stack's own
# next_auto_sync, read by the auto-sync clock of `serve`.

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def _move_schedules(apps, schema_editor):
    GitStack = apps.get_model("stacks", "GitStack")
    Schedule = apps.get_model("django_q", "Schedule")
    zone = ZoneInfo(settings.TIME_ZONE)
    for stack in GitStack.objects.filter(auto_update=True):
        old = Schedule.objects.filter(name=f"stack-{stack.pk}-auto-update").first()
        start = timezone.now().astimezone(zone)
        when = old.next_run if old and old.next_run else croniter(stack.auto_update_cron, start).get_next(datetime)
        GitStack.objects.filter(pk=stack.pk).update(next_auto_sync=when)
    Schedule.objects.filter(func="gitsync.tasks.scheduled_sync").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stacks", "0012_deployment_history"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="gitstack",
            name="next_auto_sync",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.RunPython(_move_schedules, migrations.RunPython.noop),
    ]
