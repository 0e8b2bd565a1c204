"""Deployment output: masked, persisted line by line as it arrives, so a reload or a
late viewer replays it and the live view follows it from another process.

Bounded: a deployment keeps its first OUTPUT_MAX_LINES / 2 lines and a rolling tail of
its last ones. Past the head, every so often the oldest tail rows are deleted and one
row in their place says how many lines were left out; it takes the highest `seq` it
replaces, so the rows stay in order and a viewer that tails by `seq` and fell behind
finds the marker where its lines went missing. Rows are never more than the limit, also
mid-deploy: a crash leaves head, marker and tail as they were.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max

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


# A longer line is cut: with the line limit, this bounds what one deployment stores.
LINE_MAX_CHARS = 2000


def cut_marker(left_out: int) -> str:
    return f"… {left_out:,} lines left out …"


def _shortened(text: str) -> str:
    if len(text) <= LINE_MAX_CHARS:
        return text
    return f"{text[:LINE_MAX_CHARS]} … {len(text) - LINE_MAX_CHARS:,} characters left out"


class DeploymentOutput:
    """A line sink for one deployment; every line is masked before it is kept, and
    only the head and the tail are kept (see the module docstring)."""

    def __init__(self, deployment: Deployment, secrets: Iterable[str], *, new: bool = False) -> None:
        self.deployment = deployment
        self.secrets = tuple(secrets)
        self._lock = threading.Lock()
        self._head = settings.OUTPUT_MAX_LINES // 2
        # Rows after the head: the marker and the tail. A cut frees a tenth of them at
        # once, so the DELETE runs every few hundred lines, not after each one.
        self._room = settings.OUTPUT_MAX_LINES - self._head
        self._slack = max(1, self._room // 10)
        # A deployment that has just started has no lines yet: no need to count them.
        self._seq, kept = 0, 0
        if not new:
            rows = DeploymentLine.objects.filter(deployment=deployment).aggregate(last=Max("seq"), kept=Count("id"))
            self._seq, kept = rows["last"] or 0, rows["kept"]
        self._after_head = max(0, kept - self._head)

    def also_mask(self, secrets: Iterable[str]) -> None:
        """Mask these too from now on: values a deploy resolved from a store or an
        encrypted file, known only once it reads them."""
        self.secrets = (*self.secrets, *secrets)

    def line(self, text: str) -> None:
        # Written at once (one small INSERT): a line followed by a long silence, such as
        # "Starting" before a slow health check, must reach viewers without waiting.
        masked = _shortened(mask(plain_text(text), self.secrets))
        with self._lock:
            self._seq += 1
            if self._seq > self._head:
                if self._after_head >= self._room:
                    self._cut()
                self._after_head += 1
            DeploymentLine.objects.create(deployment=self.deployment, seq=self._seq, text=masked)
        if settings.REDIS_URL:
            _nudges.add(self.deployment.pk)

    def _cut(self) -> None:
        """Replace the oldest tail rows (and the marker before them) with one marker."""
        cut = self._seq - self._room + self._slack
        with transaction.atomic():
            DeploymentLine.objects.filter(deployment=self.deployment, seq__gt=self._head, seq__lte=cut).delete()
            DeploymentLine.objects.create(deployment=self.deployment, seq=cut, text=cut_marker(cut - self._head))
        self._after_head = self._seq - cut  # the marker and the lines between it and this one


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


class _Nudges:
    """The nudges for new lines, sent by one thread of the process. A nudge costs
    milliseconds (an event loop per group_send) and a build can print thousands of
    lines a second: lines written while one is sent share the next, so the writer never
    waits for Redis and the last line of a burst is still nudged at once."""

    def __init__(self) -> None:
        self._due: set[int] = set()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deployment_id: int) -> None:
        with self._ready:
            self._due.add(deployment_id)
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked worker
                self._thread = threading.Thread(target=self._send, name="output-nudges", daemon=True)
                self._thread.start()
            self._ready.notify()

    def _send(self) -> None:
        while True:
            with self._ready:
                while not self._due:
                    self._ready.wait()
                due, self._due = self._due, set()
            for deployment_id in due:
                wake_viewers(deployment_id)


_nudges = _Nudges()
