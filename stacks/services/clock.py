"""The clock: a thread of the web process (and of a `qcluster` run alone) that, on
each tick, takes back stack locks whose lease ran out (`recovery.locks_reap`) and, once
a minute, checks the stacks whose auto-update schedule is due (`schedules`).

It ticks every half lease (at most a minute), so no stack stays `syncing` or `queued`
for a dead worker longer than its lease and one tick, with nobody acting.

It runs at a lower CPU priority (NICE) than the rest of its process: its minute of
checks is a few seconds of work with the whole minute to do it in, while the web
processes on the same cores answer people waiting (benchmark #10).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection

from stacks.services.recovery import locks_reap
from stacks.services.schedules import auto_sync_tick

log = logging.getLogger(__name__)

# Linux keeps a nice value per thread, and a thread or process started from one inherits
# it: this thread, its pool of checks and their `git` runs give way to the requests.
NICE = 10


def start_clock() -> threading.Event:
    """Run the clock in a daemon thread of this process; set the event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_clock, args=(stop,), name="dockhand-clock", daemon=True).start()
    return stop


def tick_seconds() -> float:
    return min(60.0, settings.LOCK_LEASE / 2)


def _give_way() -> None:
    """This thread (only) at NICE, unless it runs lower already."""
    me = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, me) < NICE:
            os.setpriority(os.PRIO_PROCESS, me, NICE)
    except OSError as exc:  # a sandbox that refuses: the clock runs all the same
        log.warning("the clock keeps its CPU priority: %s", exc)


def run_clock(stop: threading.Event) -> None:
    """Tick until `stop` is set. Ticks fall on the wall clock (a multiple of the tick
    from the epoch), so the schedule's tick is at the start of each minute; several
    processes may each run a clock (claims and take-backs are conditional UPDATEs)."""
    _give_way()
    step = tick_seconds()
    last_minute = None
    while not stop.wait(step - time.time() % step + 0.05):
        minute = int(time.time() // 60)
        try:
            locks_reap()
            if minute != last_minute:
                last_minute = minute
                done = auto_sync_tick()
                if done:
                    log.info("auto-sync checked %d stack(s)", len(done))
        except Exception:
            log.exception("clock tick failed")
        finally:
            connection.close()
