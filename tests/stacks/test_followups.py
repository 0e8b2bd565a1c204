"""No push is lost: triggers that arrive mid-sync become exactly one follow-up."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gitsync import git
from stacks import compose
from stacks.models import Deployment, GitStack, StackEnvVar
from stacks.services import lock, runner, sync
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


def test_three_triggers_during_a_deploy_make_one_follow_up_that_deploys_the_newest_commit(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack_json = make_stack(app_repo)
    stack = GitStack.objects.get(pk=stack_json["id"])
    deploying = app_repo.head()
    arrivals: list[Deployment | None] = []

    def while_pushes_arrive(real_up: Any) -> Any:
        def up(*args: Any, **kwargs: Any) -> Any:
            if not arrivals:  # three pushes land while the first compose run is under way
                for version in ("2", "3", "4"):
                    app_repo.commit({"compose.yaml": compose_file(version)}, f"version {version}")
                    arrivals.append(sync.stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.WEBHOOK))
            return real_up(*args, **kwargs)

        return up

    # `up` runs as started ahead (compose.HeldUp) or, with a pull or a build first, plainly.
    monkeypatch.setattr(compose, "up", while_pushes_arrive(compose.up))
    monkeypatch.setattr(compose.HeldUp, "go", while_pushes_arrive(compose.HeldUp.go))
    first = sync.stack_sync(stack=stack, trigger=Deployment.Trigger.API, by=None)

    assert arrivals == [None, None, None]  # each joined the one pending follow-up
    runs = list(Deployment.objects.filter(stack=stack).order_by("id"))
    assert [(d.trigger, d.status) for d in runs] == [("api", "success"), ("webhook", "success")]
    assert runs[0].pk == first.pk and runs[0].commit_sha == deploying
    assert runs[1].commit_sha == app_repo.head()
    stack.refresh_from_db()
    assert stack.last_commit == app_repo.head() and stack.lock_owner is None and not stack.sync_pending
    assert dockersupport.container_env(container_name(stack_json))["VERSION"] == "4"


def test_a_trigger_arriving_after_the_release_starts_a_fresh_sync(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = GitStack.objects.get(pk=make_stack(app_repo)["id"])
    deployment = sync.stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.SCHEDULE)
    assert deployment is not None
    assert Deployment.objects.get(pk=deployment.pk).status == "success", Deployment.objects.get(pk=deployment.pk).error


def test_a_push_that_finds_the_lock_held_asks_for_the_follow_up_without_writing_a_deployment(
    api: Any, app_repo: Any, make_stack: Any
) -> None:
    stack = GitStack.objects.get(pk=make_stack(app_repo)["id"])
    lock.lock_take(stack, lock.Holder.OPERATION, timedelta(minutes=5))
    stack.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        assert sync.stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.WEBHOOK) is None
    # One UPDATE asks for the follow-up: no deployment row written and rolled back.
    assert not [q for q in queries.captured_queries if 'INSERT INTO "stacks_deployment"' in q["sql"]]
    stack.refresh_from_db()
    assert stack.sync_pending and stack.pending_trigger == "webhook"


def test_a_push_does_not_wait_behind_a_holder_whose_lease_ran_out(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = GitStack.objects.get(pk=make_stack(app_repo)["id"])
    lock.lock_take(stack, lock.Holder.OPERATION, timedelta(seconds=-1))  # its holder died
    stack.refresh_from_db()
    deployment = sync.stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.WEBHOOK)
    assert deployment is not None
    assert Deployment.objects.get(pk=deployment.pk).status == "success", Deployment.objects.get(pk=deployment.pk).error


def test_a_follow_up_starts_no_sooner_than_a_second_after_the_sync_before_it_started(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    # A flood of pushes must not run back-to-back syncs that each find nothing new:
    # a follow-up waits (queued) until lock.FOLLOWUP_SPACING after its predecessor began.
    stack = GitStack.objects.get(pk=make_stack(app_repo)["id"])
    holder = Deployment.objects.create(stack=stack, trigger=Deployment.Trigger.WEBHOOK)
    lock.lock_take_for(stack, holder)
    assert holder.start()
    assert lock.lock_ask_followup(stack, Deployment.Trigger.WEBHOOK)
    assert holder.started_at is not None

    followup = lock.lock_release(stack, holder.pk, lock.SyncOutcome(ok=True))  # runs it, inline in tests

    assert followup is not None
    followup.refresh_from_db()
    assert followup.not_before == holder.started_at + lock.FOLLOWUP_SPACING
    assert followup.status == "success", followup.error
    assert followup.started_at is not None and followup.started_at >= followup.not_before


def test_the_spacing_is_never_longer_than_a_second_whatever_the_clocks_say(app_repo: Any, make_stack: Any) -> None:
    # not_before was written by another node's clock: a skewed one must not hold the
    # worker (or the push) longer than the spacing itself.
    stack = GitStack.objects.get(pk=make_stack(app_repo)["id"])

    def waited(not_before: Any) -> float:
        deployment = Deployment.objects.create(stack=stack, trigger="webhook", followup=True, not_before=not_before)
        started = time.monotonic()
        runner._waited_for_spacing(deployment)
        return time.monotonic() - started

    assert waited(timezone.now() - timedelta(seconds=30)) < 0.2
    assert 0.9 <= waited(timezone.now() + timedelta(hours=1)) < 1.5


def test_a_follow_up_decides_with_what_was_saved_while_it_waited(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    # An override saved during the spacing is a change: the follow-up deploys it, it
    # does not end "unchanged" with the stack as it was read before the wait.
    stack_json = make_stack(app_repo)
    stack = GitStack.objects.get(pk=stack_json["id"])
    first = sync.stack_sync(stack=stack, trigger=Deployment.Trigger.API, by=None)
    assert Deployment.objects.get(pk=first.pk).status == "success"
    holder = Deployment.objects.create(stack=stack, trigger=Deployment.Trigger.WEBHOOK)
    lock.lock_take_for(stack, holder)
    assert holder.start() and lock.lock_ask_followup(stack, Deployment.Trigger.WEBHOOK)
    real_wait = runner._waited_for_spacing

    def an_override_saved_meanwhile(deployment: Deployment) -> bool:
        waited = real_wait(deployment)
        StackEnvVar.objects.create(stack=stack, key="SAVED_WHILE_WAITING", value="yes")
        return waited

    runner_wait = pytest.MonkeyPatch()
    runner_wait.setattr(runner, "_waited_for_spacing", an_override_saved_meanwhile)
    try:
        followup = lock.lock_release(stack, holder.pk, lock.SyncOutcome(ok=True))
    finally:
        runner_wait.undo()
    assert followup is not None
    followup.refresh_from_db()
    assert followup.status == "success", (followup.status, followup.note, followup.error)
    assert followup.deployed and "SAVED_WHILE_WAITING" in followup.config["overrides"]


def test_a_follow_up_that_finds_the_branch_where_it_was_asks_for_the_head_and_fetches_nothing(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = GitStack.objects.get(pk=make_stack(app_repo)["id"])
    first = sync.stack_sync(stack=stack, trigger=Deployment.Trigger.API, by=None)
    assert Deployment.objects.get(pk=first.pk).status == "success"
    stack.refresh_from_db()
    holder = Deployment.objects.create(stack=stack, trigger=Deployment.Trigger.WEBHOOK)
    lock.lock_take_for(stack, holder)
    assert holder.start() and lock.lock_ask_followup(stack, Deployment.Trigger.WEBHOOK)
    Deployment.objects.filter(pk=holder.pk).update(started_at=holder.started_at - timedelta(seconds=5))
    fetched: list[str] = []
    monkeypatch.setattr("gitsync.git.checkout", lambda **kw: fetched.append(kw["url"]))  # must not be reached
    asked: list[str] = []
    real_head = git.remote_head
    monkeypatch.setattr("gitsync.git.remote_head", lambda **kw: asked.append(kw["branch"]) or real_head(**kw))

    followup = lock.lock_release(stack, holder.pk, lock.SyncOutcome(ok=True))  # runs it, inline in tests

    assert followup is not None
    followup.refresh_from_db()
    assert (followup.status, followup.followup, followup.commit_sha) == ("skipped", True, stack.last_commit)
    assert asked == [stack.branch] and fetched == []
