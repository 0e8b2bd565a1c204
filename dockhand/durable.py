"""Writes that must happen, retried through transient database errors.

The end of a deployment (its status, the stack's lock, the follow-up it owes) must be
written even while SQLite is locked by another program, the disk is full or a
PostgreSQL connection was lost: otherwise the deployment reads `running` until the
reaper takes it back. Such errors pass; these writes wait for them to pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)
T = TypeVar("T")


def durably(action: Callable[[], T], *, what: str, within: float) -> T:
    """`action()`, tried again with growing pauses while the database fails it with an
    operational error, for up to `within` seconds; then that error is raised."""
    deadline = time.monotonic() + within
    pause = 0.25
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s: %s; trying again in %.1f s", what, exc, pause)
            if not connection.in_atomic_block:
                connection.close()  # a lost connection is opened anew on the next try
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
