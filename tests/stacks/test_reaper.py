"""The clock's reaper takes back what a dead worker holds, with nobody acting (Step 10):
an expired running deployment ends `interrupted` and the push that waited behind it is
deployed; expired queued work is handed over again; live work is left alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from stacks.models import Deployment, GitStack
from stacks.services.recovery import locks_reap
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


def _hold(stack: dict[str, Any], deployment: Deployment, *, expires_in: float, **fields: Any) -> None:
    GitStack.objects.filter(pk=stack["id"]).update(
        lock_owner=deployment.pk, lock_expires=timezone.now() + timedelta(seconds=expires_in), **fields
    )


def test_an_expired_running_deploy_is_interrupted_and_the_waiting_push_deploys(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    dead = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    dead.start(worker="another-node:4242")  # on any node: the reaper does not care where
    pushed = app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    _hold(stack, dead, expires_in=-1, sync_status="syncing", sync_pending=True, pending_trigger="webhook")

    assert locks_reap() == {"interrupted": 1, "requeued": 0}

    dead.refresh_from_db()
    assert dead.status == "interrupted" and dead.error == Deployment.WORKER_LOST
    follow_up = Deployment.objects.filter(stack_id=stack["id"]).exclude(pk=dead.pk).get()
    assert (follow_up.trigger, follow_up.status, follow_up.commit_sha) == ("webhook", "success", pushed)
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "2"
    row = GitStack.objects.get(pk=stack["id"])
    assert row.lock_owner is None and not row.sync_pending and row.sync_status == "success"


def test_a_live_deploy_within_its_lease_is_left_alone(api: Any, app_repo: Any, make_stack: Any) -> None:
    stack = make_stack(app_repo)
    live = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    live.start(worker="this-node:1")
    _hold(stack, live, expires_in=60, sync_status="syncing")

    assert locks_reap() == {"interrupted": 0, "requeued": 0}
    assert Deployment.objects.get(pk=live.pk).status == "running"
    assert GitStack.objects.get(pk=stack["id"]).lock_owner == live.pk


def test_expired_queued_work_is_handed_over_again_and_runs_once(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    from stacks.tasks import run_deployment

    stack = make_stack(app_repo)
    queued = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    _hold(stack, queued, expires_in=-1, sync_status="queued")  # its task died with a node

    assert locks_reap() == {"interrupted": 0, "requeued": 1}

    queued.refresh_from_db()
    assert queued.status == "success" and queued.deployed
    assert run_deployment(queued.pk) == "success"  # the original task, delivered late: runs nothing
    assert queued.output_text().count("Deploying ") == 1
    assert locks_reap() == {"interrupted": 0, "requeued": 0}


def test_health_reports_work_held_past_its_lease_and_metrics_count_what_was_taken_back(
    api: Any, app_repo: Any, make_stack: Any, settings: Any
) -> None:
    from rest_framework.test import APIClient

    settings.METRICS_TOKEN = "metrics-token-for-tests"
    stack = make_stack(app_repo)
    stuck = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    stuck.start(worker="gone:1")
    _hold(stack, stuck, expires_in=-600, sync_status="syncing")  # no clock reaped it (none runs here)

    body = api.get("/api/health").json()  # an owner is told which stack
    assert body["details"] == "unhealthy"
    assert body["work"] == f"held past their lease, not taken back: {stack['stackName']}"
    assert body["database"] == "ok" and body["disk"] == "ok"

    assert locks_reap()["interrupted"] == 1
    assert api.get("/api/health").json()["work"] == "ok"
    scraped = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-tests").content.decode()
    assert "dockhand_locks_taken_back_total 1.0" in scraped
    assert 'dockhand_deployments_total{status="interrupted",trigger="api"} 1.0' in scraped
    # And the deploy it interrupted ran again: recovered.
    assert 'dockhand_deployments_total{status="success",trigger="recovery"} 1.0' in scraped
