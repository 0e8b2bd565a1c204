"""autoUpdate stacks run from the auto-sync clock; time is set, never slept."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dockhand.models import AuditEvent
from gitsync import git
from gitsync.models import Credential, Repository
from stacks.models import Deployment, GitStack
from stacks.services import images, schedules
from stacks.services.lock import Holder, lock_take
from stacks.services.revision import stack_config
from stacks.services.schedules import auto_sync_tick, due_stacks_claim, next_runs
from stacks.services.skipped import UNCHANGED_NOTE
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


def _next(stack: dict[str, Any]) -> Any:
    return GitStack.objects.get(pk=stack["id"]).next_auto_sync


def test_the_schedule_follows_the_stack(api: Any, app_repo: Any, make_stack: Any) -> None:
    stack = make_stack(app_repo, autoUpdate=True, autoUpdateCron="0 */6 * * *")
    first = _next(stack)
    assert first == next_runs("0 */6 * * *", 1)[0]
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert shown["nextSync"] is not None
    api.put(f"/api/git/stacks/{stack['id']}", {"branch": "main"}, format="json")
    assert _next(stack) == first  # saving other settings delays nothing

    api.put(f"/api/git/stacks/{stack['id']}", {"autoUpdateSchedule": "hourly"}, format="json")
    assert timezone.now() < _next(stack) <= timezone.now() + timedelta(hours=1)

    api.put(f"/api/git/stacks/{stack['id']}", {"autoUpdate": False}, format="json")
    assert _next(stack) is None
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["nextSync"] is None
    assert auto_sync_tick(timezone.now() + timedelta(days=1)) == {}


def test_a_due_schedule_deploys_once_after_downtime_then_waits_for_its_next_time(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo, autoUpdate=True, autoUpdateCron="0 * * * *")
    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    # The server was down for three days: 72 hourly runs were missed.
    GitStack.objects.filter(pk=stack["id"]).update(next_auto_sync=timezone.now() - timedelta(days=3))

    assert list(auto_sync_tick()) == [stack["id"]]

    runs = Deployment.objects.filter(stack_id=stack["id"])
    assert [(d.trigger, d.status) for d in runs] == [("schedule", "success")]
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "2"
    assert timezone.now() < _next(stack) <= timezone.now() + timedelta(hours=1)
    assert auto_sync_tick() == {}  # nothing is due any more
    assert runs.count() == 1


def test_due_stacks_are_claimed_once_and_checked_side_by_side_bounded(
    app_repo: Any, make_stack: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AUTO_SYNC_CONCURRENCY = 4
    ids = sorted(make_stack(app_repo, autoUpdate=True, autoUpdateCron="* * * * *")["id"] for _ in range(8))
    now = timezone.now() + timedelta(minutes=1)
    # A second clock (another node) looking at the same minute finds nothing left.
    assert sorted(due_stacks_claim(now)) == ids and due_stacks_claim(now) == []
    assert all(n > now for n in GitStack.objects.filter(pk__in=ids).values_list("next_auto_sync", flat=True))

    # The checks run four at a time: eight that take 0.3 s each end in about 0.6 s.
    GitStack.objects.filter(pk__in=ids).update(next_auto_sync=now)
    running, most = 0, 0
    lock = threading.Lock()

    def check(*, stack_id: int, head: str | None = None) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        return f"checked {stack_id}"

    # The clock's unit of work, replaced: the test database (in memory, in one
    # transaction) takes no writers from the clock's threads.
    monkeypatch.setattr(schedules, "stack_sync_scheduled", check)
    started = time.monotonic()
    done = auto_sync_tick(now)
    assert done == {pk: f"checked {pk}" for pk in ids} and most == 4
    assert time.monotonic() - started < 1.5


def test_stacks_on_one_branch_share_one_ls_remote_per_minute(
    app_repo: Any, make_stack: Any, git_server: Any, settings: Any
) -> None:
    # One at a time: the test database (in memory, in one transaction) takes no writers
    # from other threads. The sharing does not depend on it.
    settings.AUTO_SYNC_CONCURRENCY = 1
    shared = [make_stack(app_repo, autoUpdate=True, autoUpdateCron="* * * * *")["id"] for _ in range(5)]
    other_repo = git_server.create_repo(f"other-{uuid.uuid4().hex[:8]}", {"compose.yaml": compose_file("1")})
    alone = make_stack(other_repo, envFilePath="", autoUpdate=True, autoUpdateCron="* * * * *")["id"]
    # Each stack already runs the branch head with its configuration, as after its first deploy.
    for stack in GitStack.objects.filter(pk__in=[*shared, alone]).select_related("environment"):
        head = other_repo.head() if stack.pk == alone else app_repo.head()
        stack.record(last_commit=head, applied_config=stack_config(stack))
    now = timezone.now() + timedelta(minutes=1)
    before = len(git_server.requests)

    done = auto_sync_tick(now)

    assert sorted(done) == sorted([*shared, alone])
    # (git's first, anonymous request is answered 401 and not counted)
    asked = [r.split()[1] for r in git_server.requests[before:] if "info/refs" in r and not r.endswith(" -")]
    assert sorted(asked) == sorted(
        f"{urlparse(repo.url).path}/info/refs?service=git-upload-pack" for repo in (app_repo, other_repo)
    )
    checks = Deployment.objects.filter(stack_id__in=[*shared, alone])
    assert sorted(checks.values_list("status", flat=True)) == ["skipped"] * 6
    assert set(checks.values_list("commit_sha", flat=True)) == {app_repo.head(), other_repo.head()}


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


def test_unchanged_due_stacks_are_recorded_skipped_together_and_a_busy_one_gets_its_follow_up(
    app_repo: Any, make_stack: Any, settings: Any
) -> None:
    settings.AUTO_SYNC_CONCURRENCY = 1
    ids = [make_stack(app_repo, autoUpdate=True, autoUpdateCron="* * * * *")["id"] for _ in range(6)]
    for stack in GitStack.objects.filter(pk__in=ids).select_related("environment"):
        stack.record(last_commit=app_repo.head(), applied_config=stack_config(stack))
    *free, busy = ids
    lock_take(GitStack.objects.get(pk=busy), Holder.OPERATION, timedelta(minutes=5))

    for minute in (1, 2):
        with CaptureQueriesContext(connection) as queries:
            done = auto_sync_tick(timezone.now() + timedelta(minutes=minute))
        # The free ones in one INSERT whatever their number; the busy one joins the
        # follow-up of whoever holds its lock, and writes no deployment.
        inserts = [q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "stacks_deployment"')]
        assert len(inserts) == 1
        assert done[busy] == "follow-up pending"

    checks = Deployment.objects.filter(stack_id__in=free).order_by("stack_id", "number")
    assert [(d.stack_id, d.number, d.status, d.trigger) for d in checks] == [
        (pk, n, "skipped", "schedule") for pk in free for n in (1, 2)
    ]
    assert {d.commit_sha for d in checks} == {app_repo.head()} and {d.note for d in checks} == {UNCHANGED_NOTE}
    assert all(list(d.lines.values_list("text", flat=True)) == [UNCHANGED_NOTE] for d in checks)
    assert all(s.last_sync and s.sync_status == "success" for s in GitStack.objects.filter(pk__in=free))
    assert not Deployment.objects.filter(stack_id=busy).exists() and GitStack.objects.get(pk=busy).sync_pending
    events = AuditEvent.objects.filter(action="stack.sync", actor="schedule")
    assert sorted(events.values_list("object", flat=True)) == sorted(
        f"gitstack:{s.pk} {s}" for s in GitStack.objects.filter(pk__in=free) for _ in (1, 2)
    )


def test_what_each_due_stack_last_ran_is_read_in_one_query_whatever_their_number(
    app_repo: Any, make_stack: Any, settings: Any
) -> None:
    settings.AUTO_SYNC_CONCURRENCY = 1
    ids = sorted(make_stack(app_repo, autoUpdate=True, autoUpdateCron="* * * * *")["id"] for _ in range(5))
    for n, stack in enumerate(GitStack.objects.filter(pk__in=ids).select_related("environment").order_by("pk")):
        stack.record(last_commit=app_repo.head(), applied_config=stack_config(stack))
        # An older and a newer successful deploy, and a failed one after them: the newer counts.
        for image, status in ((f"old:{n}", "success"), (f"app:{n}", "success"), (f"failed:{n}", "failed")):
            Deployment.objects.create(
                stack=stack,
                trigger="api",
                status=status,
                deployed=True,
                finished_at=timezone.now(),
                images=[{"service": "app", "image": image, "digest": "", "imageId": "sha256:1"}],
            )
    *ran, never = ids
    Deployment.objects.filter(stack_id=never).delete()
    assert images.last_ran_of(ids) == {
        pk: [{"service": "app", "image": f"app:{n}", "digest": "", "imageId": "sha256:1"}] for n, pk in enumerate(ran)
    }
    assert images.last_ran(GitStack.objects.get(pk=ran[1])) == images.last_ran_of(ids)[ran[1]]

    with CaptureQueriesContext(connection) as queries:
        done = auto_sync_tick(timezone.now() + timedelta(minutes=1))
    assert sorted(done) == sorted(ids)
    assert all(Deployment.objects.get(pk=int(d.split()[1])).status == "skipped" for d in done.values())
    # The last deploy's images of all five in one statement, not one per stack.
    reads = [q for q in queries.captured_queries if '"images"' in q["sql"] and q["sql"].startswith("SELECT")]
    assert len(reads) == 1, [q["sql"] for q in reads]


def test_branch_heads_are_read_a_few_at_a_time_per_forge_and_forges_side_by_side(
    git_server: Any, token_credential: dict[str, Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AUTO_SYNC_CONCURRENCY, settings.AUTO_SYNC_PER_FORGE = 16, 2
    credential = Credential.objects.get(pk=token_credential["id"])
    repos = [
        git_server.create_repo(f"forge-{uuid.uuid4().hex[:8]}", {"compose.yaml": compose_file("1")}) for _ in range(9)
    ]
    # The same server under a second name: another forge host to the clock.
    urls = [repo.url if n < 6 else repo.url.replace("127.0.0.1", "localhost") for n, repo in enumerate(repos)]
    stacks = [
        GitStack(pk=n + 1, branch=repo.branch, repository=Repository(url=url, credential=credential))
        for n, (repo, url) in enumerate(zip(repos, urls, strict=True))
    ]
    real = git.remote_head
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    most_at_once = 0
    count = threading.Lock()

    def remote_head(**kwargs: Any) -> str:
        nonlocal most_at_once
        host = git.url_host(kwargs["url"]) or ""
        with count:
            running[host] = running.get(host, 0) + 1
            most[host] = max(most.get(host, 0), running[host])
            most_at_once = max(most_at_once, sum(running.values()))
        try:
            time.sleep(0.3)  # long enough for every thread of the pool to be asking
            return real(**kwargs)
        finally:
            with count:
                running[host] -= 1

    monkeypatch.setattr(git, "remote_head", remote_head)

    with ThreadPoolExecutor(settings.AUTO_SYNC_CONCURRENCY) as pool:  # as auto_sync_tick's
        heads = schedules._branch_heads(stacks, pool)

    assert most == {"127.0.0.1": 2, "localhost": 2}
    assert most_at_once == 4  # the two forges side by side
    # The credential is scoped to 127.0.0.1: those heads were read for real; the
    # credential was not sent to "localhost", whose stacks are left to their own check.
    assert heads == {stack.pk: repos[n].head() for n, stack in enumerate(stacks) if n < 6}
