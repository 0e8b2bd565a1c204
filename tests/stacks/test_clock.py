"""The clock's own thread: what it runs gives way to the web processes' requests."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from stacks.services import clock


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_clock_its_checks_and_their_git_runs_give_way_to_requests(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.LOCK_LEASE = 2  # a tick every second
    before = _nice()
    seen: queue.Queue[tuple[int, int, int]] = queue.Queue()

    def tick(now: datetime | None = None) -> dict[int, str]:
        # As auto_sync_tick checks: in a pool of threads, each running `git`.
        with ThreadPoolExecutor(1) as pool:
            in_pool = pool.submit(_nice).result()
        child = subprocess.run([sys.executable, "-c", "import os; print(os.nice(0))"], capture_output=True, text=True)
        seen.put((_nice(), in_pool, int(child.stdout)))
        return {}

    monkeypatch.setattr(clock, "locks_reap", lambda: None)
    monkeypatch.setattr(clock, "auto_sync_tick", tick)
    stop = clock.start_clock()
    try:
        assert seen.get(timeout=10) == (clock.NICE, clock.NICE, clock.NICE)
    finally:
        stop.set()
    assert _nice() == before  # the rest of the process keeps its priority
