"""Restarts converge (Step 10, item 3): a deploy that a crash or a stop interrupted runs
again once (trigger `recovery`) with the same aim, so the stack ends running its desired
state rather than half of it; a stop lets a running deploy finish within its grace or
stops it; recovery ends only processes it can prove are an orphaned compose, and only
one dockhand serves a data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dockhand.node import AlreadyRunning, node_lock_take, start_time, stop_announce, stop_clear, stop_deadline
from stacks import compose
from stacks.models import Deployment, Environment, GitStack
from stacks.services.recovery import locks_reap, recover_after_restart
from tests.conftest import REPO_ENV, compose_file, container_name, slow_compose_file, unique_stack_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


def _dead(stack: dict[str, Any], **fields: Any) -> Deployment:
    """A deployment whose worker died mid-run: running, its lease over."""
    dead = Deployment.objects.create(stack_id=stack["id"], trigger=fields.pop("trigger", "api"), **fields)
    dead.start(worker="another-node:4242")
    GitStack.objects.filter(pk=stack["id"]).update(
        lock_owner=dead.pk, lock_expires=timezone.now() - timedelta(seconds=1), sync_status="syncing"
    )
    return dead


def test_a_reaped_deploy_with_no_push_behind_it_runs_again_once(
    api: Any, admin: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    dead = _dead(stack)

    assert locks_reap() == {"interrupted": 1, "requeued": 0}

    rerun = Deployment.objects.get(retry_of=dead)
    assert (rerun.trigger, rerun.status, rerun.commit_sha) == ("recovery", "success", app_repo.head())
    assert api.get(f"/api/deployments/{rerun.pk}").json()["retryOf"] == dead.pk
    page = Client()
    page.force_login(admin)
    shown = page.get(f"/deployments/{rerun.pk}/").content.decode()
    assert f'runs again deployment <a href="/deployments/{dead.pk}/">#{dead.number}</a>' in shown
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"
    assert Deployment.objects.get(pk=dead.pk).status == "interrupted"
    # Once: the reaper finds nothing more, and a re-run that dies in turn is not re-run.
    assert locks_reap() == {"interrupted": 0, "requeued": 0}
    dead_again = _dead(stack, trigger="recovery")
    assert locks_reap() == {"interrupted": 1, "requeued": 0}
    assert not Deployment.objects.filter(retry_of=dead_again).exists()
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None


def test_a_rerun_keeps_the_aim_of_what_was_interrupted(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    first = api.post(f"/api/git/stacks/{stack['id']}/sync", format="json").json()
    app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", format="json").json()["deployed"] is True
    back_to = Deployment.objects.get(pk=first["deploymentId"])
    dead = _dead(stack, trigger="rollback", target_commit=back_to.commit_sha, rollback_to=back_to)

    locks_reap()

    rerun = Deployment.objects.get(retry_of=dead)
    assert (rerun.status, rerun.commit_sha, rerun.rollback_to_id) == ("success", back_to.commit_sha, back_to.pk)
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"  # rolled back, not the head


def test_a_rerun_waits_for_approval_where_the_environment_asks_for_it(api: Any, app_repo: Any, make_stack: Any) -> None:
    stack = make_stack(app_repo)
    Environment.objects.filter(stacks__pk=stack["id"]).update(approval_required=True)
    dead = _dead(stack)

    locks_reap()

    rerun = Deployment.objects.get(retry_of=dead)
    assert (rerun.trigger, rerun.status) == ("recovery", "pending_approval")


def test_a_stop_lets_the_deploy_end_interrupted_and_the_next_start_runs_it_again(
    api: Any, git_server: Any, make_stack: Any, docker_image: str, settings: Any
) -> None:
    settings.CANCEL_GRACE = 2
    repo = git_server.create_repo(
        f"stop-{unique_stack_name()}", {"compose.yaml": slow_compose_file(seconds=6), ".env": REPO_ENV}
    )
    stack = make_stack(repo)
    # The node is asked to stop two seconds into the deploy, its grace already over.
    threading.Timer(2.0, stop_announce, args=(0,)).start()
    try:
        answer = api.post(f"/api/git/stacks/{stack['id']}/sync", format="json")
        stopped = Deployment.objects.get(pk=answer.json()["deploymentId"])
        assert (stopped.status, stopped.error) == ("interrupted", Deployment.STOPPED), stopped.output_text()
        assert "Interrupted: dockhand was stopped" in stopped.output_text()
        assert stopped.duration_ms < 6000  # compose was stopped, not waited for
        # Its re-run is queued, and stays queued while the node stops: no new work starts.
        rerun = Deployment.objects.get(retry_of=stopped)
        assert (rerun.trigger, rerun.status) == ("recovery", "queued")
        assert GitStack.objects.get(pk=stack["id"]).lock_owner == rerun.pk
        recover_after_restart()  # the next start: the stop is over, queued work runs
    finally:
        stop_clear()
    assert stop_deadline() is None
    rerun.refresh_from_db()
    assert rerun.status == "success" and rerun.deployed, rerun.output_text()
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"


def test_the_next_start_reruns_a_stopped_deploy_whose_rerun_was_never_queued(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    stopped = Deployment.objects.create(stack_id=stack["id"], trigger="webhook")
    stopped.start(worker="this-node:1")
    stopped.interrupt(Deployment.STOPPED)  # the database failed the re-run's queueing then
    older = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    older.interrupt(Deployment.STOPPED)
    Deployment.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))

    assert recover_after_restart()["rerun"] == 1

    assert Deployment.objects.get(retry_of=stopped).status == "success"
    assert not Deployment.objects.filter(retry_of=older).exists()  # superseded: not the newest
    assert recover_after_restart()["rerun"] == 0


def test_recovery_ends_only_a_process_proven_to_be_an_orphaned_compose(settings: Any, tmp_path: Path) -> None:
    settings.RUN_DIR = tmp_path
    pids = tmp_path / "compose-pids"
    pids.mkdir()
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # took a recorded pid
    try:
        (pids / f"{orphan.pid}.pid").write_text(f"{orphan.pid} {start_time(orphan.pid)}")
        (pids / f"{stranger.pid}.pid").write_text(f"{stranger.pid} {start_time(stranger.pid) - 1}")
        (pids / "4194999.pid").write_text("4194999 12345")  # long gone
        (pids / "old.pid").write_text("77")  # before pid files carried a start time

        assert compose.kill_orphans() == [orphan.pid]

        assert orphan.wait(5) == -signal.SIGKILL
        assert stranger.poll() is None
        assert list(pids.iterdir()) == []
    finally:
        for proc in (orphan, stranger):
            proc.kill()
            proc.wait()


def test_one_dockhand_per_data_directory(settings: Any, tmp_path: Path) -> None:
    settings.RUN_DIR = tmp_path
    held = node_lock_take()
    try:
        with pytest.raises(AlreadyRunning, match=f"process {os.getpid()}"):
            node_lock_take()
    finally:
        os.close(held)
    os.close(node_lock_take())  # free again once its holder is gone


def test_a_stop_announced_is_over_at_the_next_start(settings: Any, tmp_path: Path) -> None:
    settings.RUN_DIR = tmp_path
    stop_announce(30)
    deadline = stop_deadline()
    assert deadline is not None and deadline > timezone.now().timestamp() + 25
    stop_clear()
    assert stop_deadline() is None
