"""Deployment output: masked, persisted line by line as it arrives, so a reload or a
late viewer replays it and the live view follows it from another process."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from dockhand.masking import mask
from stacks.models import Deployment, DeploymentLine


class DeploymentOutput:
    """A line sink for one deployment; every line is masked before it is kept."""

    def __init__(self, deployment: Deployment, secrets: Iterable[str]) -> None:
        self.deployment = deployment
        self.secrets = tuple(secrets)
        self._seq = DeploymentLine.objects.filter(deployment=deployment).count()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        # Written at once (one small INSERT): a line followed by a long silence, such as
        # "Starting" before a slow health check, must reach viewers without waiting.
        masked = mask(text, self.secrets)
        with self._lock:
            self._seq += 1
            DeploymentLine.objects.create(deployment=self.deployment, seq=self._seq, text=masked)
