"""Deployment output: masked, persisted line by line as it arrives, so a reload or a
late viewer replays it and the live view follows it from another process."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from dockhand.masking import mask
from stacks.models import Deployment, DeploymentLine

log = logging.getLogger(__name__)


# ANSI escape sequences (CSI, OSC and two-character ones) and other control characters:
# output is data, so a repository cannot move the viewer's cursor, retitle a terminal
# or hide text when the log is replayed.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(text: str) -> str:
    """A line without terminal control sequences (tabs kept)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


class DeploymentOutput:
    """A line sink for one deployment; every line is masked before it is kept."""

    def __init__(self, deployment: Deployment, secrets: Iterable[str], *, new: bool = False) -> None:
        self.deployment = deployment
        self.secrets = tuple(secrets)
        # A deployment that has just started has no lines yet: no need to count them.
        self._seq = 0 if new else DeploymentLine.objects.filter(deployment=deployment).count()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        # Written at once (one small INSERT): a line followed by a long silence, such as
        # "Starting" before a slow health check, must reach viewers without waiting.
        masked = mask(plain_text(text), self.secrets)
        with self._lock:
            self._seq += 1
            DeploymentLine.objects.create(deployment=self.deployment, seq=self._seq, text=masked)
        wake_viewers(self.deployment.pk)


def viewers_group(deployment_id: int) -> str:
    return f"deployment-{deployment_id}"


def wake_viewers(deployment_id: int) -> None:
    """With Redis, tell the deployment's live viewers to read now rather than at their
    next poll. Only a nudge: the rows stay the truth, so a lost nudge costs latency only.
    """
    if not settings.REDIS_URL:
        return  # the in-memory layer cannot reach the web process
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(viewers_group(deployment_id), {"type": "output.wake"})
    except Exception:
        log.warning("could not nudge viewers of deployment %s", deployment_id, exc_info=True)
