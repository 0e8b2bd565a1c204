"""Live deployment output over a WebSocket: the lines so far, each new line, then the
final status; in between, the header's state (services/progress.py) whenever it changes
(queued → running, the commit found, a cancel asked), so the page follows the run
without a reload. A client says which state it shows (`?version=`, from the page it
got); one that says nothing is sent the changes after it connected.

Mechanism: the worker persists every masked line as a DeploymentLine row; this
consumer tails those rows by `seq`. In the embedded default the worker and the web
server are separate processes with no shared channel layer (the in-memory layer is per
process), and the database is already shared, so tailing it works everywhere, replays
for late joiners for free, and loses nothing when a socket reconnects (`?after=<seq>`).
With DOCKHAND_REDIS_URL the channel layer is channels-redis and the worker nudges the
deployment's group after new lines, so the tail reads at once instead of at its next
poll (which then only guards against a lost nudge).

The rows are bounded (services/output.py): the head, one marker line, a rolling tail.
The marker takes the highest `seq` it stands for, so a viewer that fell behind the
tail's cut finds it in place of the lines it missed, and a replay is at most
OUTPUT_MAX_LINES lines whatever the deploy printed.

A container's log (ContainerLogConsumer) is no record: it is read from the engine as the
container writes it, by a thread per socket (the SDK's stream blocks), masked, and
bounded in rate and in time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from dockhand.errors import Conflict
from stacks.engine import MAX_LOG_LINES, EngineError, LogLine
from stacks.models import Deployment, DeploymentLine, GitStack
from stacks.services.access import visible_environment_ids
from stacks.services.containers import ContainerMissing, MaskedLogFollow, container_log_follow
from stacks.services.output import viewers_group
from stacks.services.progress import FIELDS, deployment_state

log = logging.getLogger(__name__)

# How often the tail looks for new lines: well under the 250 ms latency target.
POLL_SECONDS = 0.05
# With Redis nudges, polling is only a safety net.
NUDGED_POLL_SECONDS = 1.0
BATCH = 500


@database_sync_to_async
def _may_see(user: Any, deployment_id: int) -> bool:
    allowed = visible_environment_ids(user)
    deployments = Deployment.objects.filter(pk=deployment_id)
    if allowed is not None:
        deployments = deployments.filter(stack__environment_id__in=allowed)
    return deployments.exists()


@database_sync_to_async
def _snapshot(deployment_id: int, after: int) -> tuple[Deployment | None, list[tuple[int, str]]]:
    """Status first, then lines: when the status says finished, every line is in."""
    deployment = Deployment.objects.filter(pk=deployment_id).only(*FIELDS).first()
    if deployment is None:
        return None, []
    lines = list(
        DeploymentLine.objects.filter(deployment_id=deployment_id, seq__gt=after).values_list("seq", "text")[:BATCH]
    )
    return deployment, lines


class DeploymentOutputConsumer(AsyncJsonWebsocketConsumer):
    """ws/deployments/<id>/ — session-authenticated."""

    deployment_id: int
    follower: asyncio.Task[None] | None = None
    nudged: asyncio.Event | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.deployment_id = int(self.scope["url_route"]["kwargs"]["pk"])
        if not await _may_see(user, self.deployment_id):
            await self.close(code=4404)
            return
        query = dict(
            part.split("=", 1) for part in self.scope.get("query_string", b"").decode().split("&") if "=" in part
        )
        after = int(query["after"]) if query.get("after", "").isdigit() else 0
        shown = query.get("version") or None
        await self.accept()
        if settings.REDIS_URL and self.channel_layer is not None:
            self.nudged = asyncio.Event()
            await self.channel_layer.group_add(viewers_group(self.deployment_id), self.channel_name)
        self.follower = asyncio.create_task(self._follow_or_close(after, shown))

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            self.follower.cancel()
        if self.nudged is not None:
            await self.channel_layer.group_discard(viewers_group(self.deployment_id), self.channel_name)

    async def output_wake(self, event: dict[str, Any]) -> None:
        """The worker wrote a line (Redis mode): read now."""
        if self.nudged is not None:
            self.nudged.set()

    async def _pause(self) -> None:
        if self.nudged is None:
            await asyncio.sleep(POLL_SECONDS)
            return
        try:
            await asyncio.wait_for(self.nudged.wait(), timeout=NUDGED_POLL_SECONDS)
        except TimeoutError:
            pass
        self.nudged.clear()

    async def _follow_or_close(self, after: int, shown: str | None) -> None:
        try:
            await self._follow(after, shown)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The browser reconnects with ?after= and resumes; a silent hang would not.
            log.exception("following deployment %s failed", self.deployment_id)
            await self.close(code=1011)

    async def _follow(self, after: int, shown: str | None) -> None:
        while True:
            deployment, lines = await _snapshot(self.deployment_id, after)
            for seq, text in lines:
                await self.send_json({"type": "line", "seq": seq, "text": text})
                after = seq
            if deployment is None:
                await self.close(code=4404)
                return
            state = deployment_state(deployment)
            if deployment.is_finished and len(lines) < BATCH:
                await self.send_json({"type": "status", **state})
                await self.close()
                return
            if shown is None:
                shown = state["version"]
            if state["version"] != shown:
                await self.send_json({"type": "state", **state})
                shown = state["version"]
            if not lines:
                await self._pause()


LOG_TAIL = 200  # lines of a container's log shown first, unless the page asks for others
LOG_LINES_PER_SECOND = 1000  # past this, a container's lines are left out (and counted)
LOG_FOLLOW_SECONDS = 3600  # a follow ends after this long; the page offers to go on
LOG_FOLLOWERS = 50  # logs followed at once by one web process (a thread each)
_followers = threading.BoundedSemaphore(LOG_FOLLOWERS)
_LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
STOPPED = "The log ended: the container is not running."
FAILED = "Following the log failed: the server's log has the details."


@dataclass(frozen=True)
class _Ended:
    reason: str


class _Reader:
    """The thread that reads a container's log from the engine (the SDK's stream blocks)
    and hands the lines to the socket's event loop: `burst` lines at once (the tail
    asked for), then `rate` a second; the lines past that are only counted."""

    def __init__(self, follow: MaskedLogFollow, *, burst: int, rate: int) -> None:
        self.follow, self.burst, self.rate = follow, burst, rate
        self.queue: asyncio.Queue[LogLine | _Ended] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._skipped = 0

    def start(self) -> None:
        threading.Thread(target=self._run, name="container-log", daemon=True).start()

    def skipped(self) -> int:
        """Lines left out since the last call."""
        with self._lock:
            count, self._skipped = self._skipped, 0
        return count

    def _put(self, item: LogLine | _Ended) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:
            pass  # the server is shutting down: its loop is closed

    def _run(self) -> None:
        tokens, at = float(self.burst), time.monotonic()
        ended = _Ended(STOPPED)
        try:
            for line in self.follow:
                now = time.monotonic()
                tokens, at = min(float(self.burst), tokens + (now - at) * self.rate), now
                if tokens < 1:
                    with self._lock:
                        self._skipped += 1
                    continue
                tokens -= 1
                self._put(line)
        except EngineError as exc:
            ended = _Ended(str(exc))
        except Exception:
            log.exception("following a container's log failed")
            ended = _Ended(FAILED)
        finally:
            _followers.release()
            self._put(ended)


@database_sync_to_async
def _log_follow(user: Any, pk: int, ref: str, tail: int, after: str) -> MaskedLogFollow | str | None:
    """The log to follow; a reason it cannot be followed; None when the caller may not
    see the stack or it has no such container (a 404, whichever it is)."""
    allowed = visible_environment_ids(user)
    stacks = GitStack.objects.select_related("environment", "repository__credential").filter(pk=pk)
    if allowed is not None:
        stacks = stacks.filter(environment_id__in=allowed)
    stack = stacks.first()
    if stack is None:
        return None
    try:
        return container_log_follow(stack=stack, ref=ref, tail=tail, after=after)[1]
    except (ContainerMissing, Conflict):
        return None
    except EngineError as exc:
        return str(exc)


class ContainerLogConsumer(AsyncJsonWebsocketConsumer):
    """ws/stacks/<id>/containers/<name or id>/logs/?tail=&after= — session-authenticated;
    whoever sees the stack reads its containers' logs, secrets masked. `after` (a line's
    `time`) resumes after that line: a reconnect loses nothing and repeats nothing.

    Sends {"type": "lines", "lines": [{"time", "text"}]}, {"type": "skipped", "count"}
    for lines left out past LOG_LINES_PER_SECOND, and {"type": "end", "reason"} before
    it closes (the container stopped, LOG_FOLLOW_SECONDS passed, the engine failed)."""

    follow: MaskedLogFollow | None = None
    relay: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        query = {k: v[-1] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        tail = min(int(query["tail"]), MAX_LOG_LINES) if query.get("tail", "").isdigit() else LOG_TAIL
        after = query.get("after", "") if _LOG_TIME.match(query.get("after", "")) else ""
        found = await _log_follow(user, int(kwargs["pk"]), str(kwargs["ref"]), tail, after)
        if found is None:
            await self.close(code=4404)
            return
        await self.accept()
        if isinstance(found, str):
            await self._end(found)
            return
        if not _followers.acquire(blocking=False):
            await self._end("The server follows too many logs right now: try again in a moment.")
            return
        self.follow = found
        # Resuming, every line since `after` is owed at once; else the tail asked for.
        reader = _Reader(
            found, burst=(MAX_LOG_LINES if after else tail) + LOG_LINES_PER_SECOND, rate=LOG_LINES_PER_SECOND
        )
        reader.start()
        self.relay = asyncio.create_task(self._relay(reader))

    async def disconnect(self, code: int) -> None:
        # The page went away: close the engine's stream (the reader thread ends with it).
        if self.follow is not None:
            self.follow.stop()
        if self.relay is not None:
            self.relay.cancel()

    async def _end(self, reason: str) -> None:
        await self.send_json({"type": "end", "reason": reason})
        await self.close()

    async def _relay(self, reader: _Reader) -> None:
        """From the reader to the socket: the lines waiting, as one message, then how many
        were left out; at least once a second, so a count after a burst is not held back."""
        deadline = time.monotonic() + LOG_FOLLOW_SECONDS
        while True:
            left = deadline - time.monotonic()
            try:
                batch = [await asyncio.wait_for(reader.queue.get(), timeout=max(0.0, min(1.0, left)))]
            except TimeoutError:
                batch = []
            while not reader.queue.empty() and len(batch) < BATCH:
                batch.append(reader.queue.get_nowait())
            lines = [{"time": item.time, "text": item.text} for item in batch if isinstance(item, LogLine)]
            if lines:
                await self.send_json({"type": "lines", "lines": lines})
            skipped = reader.skipped()
            if skipped:
                await self.send_json({"type": "skipped", "count": skipped})
            ended = next((item for item in batch if isinstance(item, _Ended)), None)
            if ended is None and left <= 0:
                reader.follow.stop()
                ended = _Ended(f"Followed for {LOG_FOLLOW_SECONDS // 60} minutes: turn Follow on to go on.")
            if ended is not None:
                await self._end(ended.reason)
                return
