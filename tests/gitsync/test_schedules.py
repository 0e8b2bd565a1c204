"""autoUpdate stacks run from the real django-q2 scheduler; time is set, never slept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from gitsync.services.schedules import next_runs, schedule_name
from stacks.models import Deployment
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


def _schedule(stack: dict[str, Any]) -> Schedule | None:
    return Schedule.objects.filter(name=schedule_name(stack["id"])).first()


def test_the_schedule_follows_the_stack(api: Any, app_repo: Any, make_stack: Any) -> None:
    stack = make_stack(app_repo, autoUpdate=True, autoUpdateCron="0 */6 * * *")
    schedule = _schedule(stack)
    assert schedule is not None
    assert (schedule.schedule_type, schedule.cron, schedule.func) == (
        Schedule.CRON,
        "0 */6 * * *",
        "gitsync.tasks.scheduled_sync",
    )
    assert schedule.next_run > timezone.now()
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert shown["nextSync"] is not None

    api.put(f"/api/git/stacks/{stack['id']}", {"autoUpdateSchedule": "hourly"}, format="json")
    schedule = _schedule(stack)
    assert schedule is not None and schedule.cron == "0 * * * *"
    assert schedule.next_run - timezone.now() <= timedelta(hours=1)

    api.put(f"/api/git/stacks/{stack['id']}", {"autoUpdate": False}, format="json")
    assert _schedule(stack) is None
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["nextSync"] is None

    api.put(f"/api/git/stacks/{stack['id']}", {"autoUpdate": True}, format="json")
    assert _schedule(stack) is not None
    assert api.delete(f"/api/git/stacks/{stack['id']}?removeContainers=false").status_code == 200
    assert _schedule(stack) is None


def test_a_due_schedule_deploys_once_after_downtime_then_waits_for_its_next_time(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo, autoUpdate=True, autoUpdateCron="0 * * * *")
    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    # The server was down for three days: 72 hourly runs were missed.
    Schedule.objects.filter(name=schedule_name(stack["id"])).update(next_run=timezone.now() - timedelta(days=3))

    scheduler(broker=get_broker())

    runs = Deployment.objects.filter(stack_id=stack["id"])
    assert [(d.trigger, d.status) for d in runs] == [("schedule", "success")]
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "2"
    schedule = _schedule(stack)
    assert schedule is not None and timezone.now() < schedule.next_run <= timezone.now() + timedelta(hours=1)
    scheduler(broker=get_broker())  # nothing is due any more
    assert runs.count() == 1


def test_cron_times_are_read_in_the_configured_time_zone(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    winter = timezone.datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("UTC"))
    summer = timezone.datetime(2026, 7, 10, 12, 0, tzinfo=ZoneInfo("UTC"))
    for after, utc_hour in ((winter, 2), (summer, 1)):
        (run,) = next_runs("0 3 * * *", 1, after=after)
        assert run.astimezone(ZoneInfo("Europe/Berlin")).hour == 3
        assert run.astimezone(ZoneInfo("UTC")).hour == utc_hour


def test_an_unknown_time_zone_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("DOCKHAND_TIME_ZONE", "Mars/Olympus")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "dockhand.settings")
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "DOCKHAND_TIME_ZONE 'Mars/Olympus' is not a known time zone" in done.stderr
