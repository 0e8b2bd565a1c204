"""The worker's broker looks for a task as soon as one is queued, not at its next poll."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django_q.conf import Conf
from django_q.models import OrmQ

from dockhand import broker

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _first_task(pusher: broker.ORM, within: float) -> tuple[list[Any], float]:
    """What the pusher's loop gets first, and when (monotonic)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = pusher.dequeue()
        if got:
            return got, time.monotonic()
    return [], time.monotonic()


def _pushing(pusher: broker.ORM, found: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            found["tasks"], found["at"] = _first_task(pusher, within=20)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.5)  # listening, and asleep in its (long) poll
    return thread


@pytest.fixture
def slow_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    # A poll this long would make a task queued now wait seconds without the wake-up.
    monkeypatch.setattr(Conf, "POLL", 5.0)


@pytest.mark.usefixtures("slow_poll")
def test_a_queued_task_is_taken_at_once_not_at_the_next_poll() -> None:
    key = f"wake-{uuid.uuid4().hex[:8]}"
    found: dict[str, Any] = {}
    thread = _pushing(broker.ORM(list_key=key), found)
    queued_at = time.monotonic()
    broker.ORM(list_key=key).enqueue("payload-1")
    thread.join(20)
    assert [payload for _, payload in found["tasks"]] == ["payload-1"]
    assert found["at"] - queued_at < 1.0, f"taken {found['at'] - queued_at:.2f} s after it was queued"


@pytest.mark.usefixtures("slow_poll")
def test_a_task_queued_in_a_transaction_wakes_the_pusher_after_the_commit() -> None:
    key = f"wake-{uuid.uuid4().hex[:8]}"
    found: dict[str, Any] = {}
    thread = _pushing(broker.ORM(list_key=key), found)
    with transaction.atomic():
        broker.ORM(list_key=key).enqueue("payload-2")
        time.sleep(0.3)  # woken now, the pusher would find nothing and sleep its 5 s
        committed_at = time.monotonic()
    thread.join(20)
    assert [payload for _, payload in found["tasks"]] == ["payload-2"]
    assert found["at"] - committed_at < 1.0, f"taken {found['at'] - committed_at:.2f} s after the commit"


def test_nobody_listening_costs_the_sender_nothing() -> None:
    started = time.monotonic()
    for _ in range(100):
        broker.wake()  # no pusher of this data directory: the datagram goes nowhere
    assert time.monotonic() - started < 0.5
    assert not OrmQ.objects.exists()
