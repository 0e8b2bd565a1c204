"""A push to a stack's webhook is recorded in one transaction: the delivery, the
follow-up it asks for (or the deployment it queues) and the audit row are written
together or not at all (one turn at SQLite's writer lock; benchmark #4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dockhand.models import AuditEvent
from stacks.models import Deployment, GitStack, WebhookDelivery
from stacks.services import lock
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db


def _send(hook: hooks.Hook, stack: dict[str, Any], client: Client | None = None) -> Any:
    return (client or Client()).post(
        f"/api/git/stacks/{stack['id']}/webhook", data=hook.body, content_type="application/json", **hook.meta()
    )


@pytest.fixture
def held(app_repo: Any, make_stack: Any) -> dict[str, Any]:
    """A webhook-enabled stack whose lock another operation holds: a push joins its follow-up."""
    stack = make_stack(app_repo, webhookEnabled=True)
    lock.lock_take(GitStack.objects.get(pk=stack["id"]), lock.Holder.OPERATION, timedelta(minutes=5))
    return stack


def _push(app_repo: Any, stack: dict[str, Any]) -> hooks.Hook:
    return hooks.github_push(app_repo, stack["webhookSecret"], before=hooks.ZERO, shas=[app_repo.head()])


def test_a_push_that_joins_the_follow_up_writes_in_one_transaction(app_repo: Any, held: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = _send(_push(app_repo, held), held)
    assert response.status_code == 202 and response.json()["coalesced"] is True, response.content
    sql = [q["sql"] for q in queries.captured_queries]
    writes = [i for i, s in enumerate(sql) if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    # The follow-up, the audit row and the delivery (written once, with its result):
    assert [sql[i].split('"')[1] for i in writes] == [
        "stacks_gitstack",
        "dockhand_auditevent",
        "gitsync_webhookdelivery",
    ]
    # ... inside one transaction (a savepoint here: the test runs inside one of its own).
    begins = [i for i, s in enumerate(sql) if s.startswith("SAVEPOINT")]
    ends = [i for i, s in enumerate(sql) if s.startswith("RELEASE SAVEPOINT")]
    assert len(begins) == len(ends) == 1 and begins[0] < writes[0] and writes[-1] < ends[0], sql
    delivery = WebhookDelivery.objects.get(stack_id=held["id"])
    assert delivery.result == WebhookDelivery.Result.COALESCED and "follow-up" in delivery.reason


def test_a_push_that_finds_the_follow_up_asked_for_writes_only_its_delivery(
    app_repo: Any, held: dict[str, Any]
) -> None:
    assert _send(_push(app_repo, held), held).json()["coalesced"] is True  # asks for the follow-up
    with CaptureQueriesContext(connection) as queries:
        response = _send(_push(app_repo, held), held)
    assert response.status_code == 202 and response.json()["coalesced"] is True, response.content
    sql = [q["sql"] for q in queries.captured_queries]
    # The follow-up asked for fetches after this push arrived: the delivery is the one write.
    assert [s.split('"')[1] for s in sql if s.startswith(("INSERT", "UPDATE", "DELETE"))] == ["gitsync_webhookdelivery"]
    assert [d.result for d in WebhookDelivery.objects.filter(stack_id=held["id"])] == ["coalesced"] * 2
    stack = GitStack.objects.get(pk=held["id"])
    assert stack.sync_pending
    # ... and that follow-up runs when the holder lets go.
    followup = lock.lock_release(stack, lock.Holder.OPERATION)
    assert followup is not None and followup.trigger == "webhook"


def test_a_push_after_the_holder_lease_ran_out_does_not_count_on_its_follow_up(
    app_repo: Any, held: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _send(_push(app_repo, held), held).json()["coalesced"] is True
    GitStack.objects.filter(pk=held["id"]).update(lock_expires=timezone.now() - timedelta(seconds=1))  # it died
    queued: list[int] = []
    monkeypatch.setattr("stacks.services.sync.enqueue", lambda deployment: queued.append(deployment.pk))
    response = _send(_push(app_repo, held), held)
    # The lock is taken back and the push deploys: nobody is left to run the follow-up.
    assert response.status_code == 202 and response.json()["deploymentId"] == queued[0], response.content


def test_a_push_that_fails_half_way_leaves_nothing_and_its_retry_is_not_a_duplicate(
    app_repo: Any, held: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = _push(app_repo, held)

    def audit_fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the audit row could not be written")

    monkeypatch.setattr("stacks.services.sync.record", audit_fails)
    assert _send(hook, held, Client(raise_request_exception=False)).status_code == 500
    # The follow-up asked for before the failure is rolled back with the delivery: a
    # delivery recorded alone would refuse the sender's retry as a duplicate, and the
    # push would be lost.
    stack = GitStack.objects.get(pk=held["id"])
    assert not stack.sync_pending and not WebhookDelivery.objects.filter(stack_id=held["id"]).exists()
    monkeypatch.undo()
    retry = _send(hook, held)
    assert retry.status_code == 202 and retry.json()["coalesced"] is True, retry.content
    assert GitStack.objects.get(pk=held["id"]).sync_pending
    assert _send(hook, held).json() == {"duplicate": True}
    assert (
        AuditEvent.objects.filter(action="stack.sync_coalesced", object__startswith=f"gitstack:{held['id']} ").count()
        == 1
    )


def test_a_repeated_delivery_rolls_back_the_deployment_it_would_have_queued(
    app_repo: Any, make_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delivery is written last: a copy that gets past the first look (two at once)
    meets the unique constraint there, and the deployment it created goes with it."""
    stack = make_stack(app_repo, webhookEnabled=True)
    queued: list[int] = []
    monkeypatch.setattr("stacks.services.sync.enqueue", lambda deployment: queued.append(deployment.pk))
    hook = _push(app_repo, stack)
    first = _send(hook, stack)
    assert first.status_code == 202 and queued == [first.json()["deploymentId"]]
    lock.lock_release(GitStack.objects.get(pk=stack["id"]), queued[0])  # as if that deploy had ended
    assert _send(hook, stack).json() == {"duplicate": True}
    assert queued == [first.json()["deploymentId"]]  # nothing handed to the worker
    assert Deployment.objects.filter(stack_id=stack["id"]).count() == 1
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None  # the lock taken with it is rolled back
