"""Deployment output: masked, persisted as it arrives, so a reload replays it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from dockhand.masking import mask
from stacks.models import Deployment

# Batch writes: compose can print hundreds of lines a second, SQLite wants few commits.
FLUSH_INTERVAL = 0.5


class DeploymentOutput:
    """A line sink for one deployment; every line is masked before it is kept."""

    def __init__(self, deployment: Deployment, secrets: Iterable[str]) -> None:
        self.deployment = deployment
        self.secrets = tuple(secrets)
        self._pending: list[str] = []
        self._lines: list[str] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            masked = mask(text, self.secrets)
            self._pending.append(masked)
            self._lines.append(masked)
            due = time.monotonic() - self._last_flush >= FLUSH_INTERVAL
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            chunk, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if chunk:
            self.deployment.append_output("".join(f"{line}\n" for line in chunk))

    def text(self) -> str:
        """Everything written so far, as stored."""
        with self._lock:
            return "".join(f"{line}\n" for line in self._lines)
