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
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from stacks.models import Deployment, DeploymentLine
from stacks.services.access import visible_environment_ids
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
