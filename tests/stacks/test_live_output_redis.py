"""With DOCKHAND_REDIS_URL the channel layer is channels-redis and the worker's nudge,
not the poll, brings a new line to the socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dockhand.asgi import application
from dockhand.settings import redis_channel_layers
from stacks import consumers
from stacks.models import Deployment
from stacks.services import output as output_module
from stacks.services.output import DeploymentOutput
from tests.conftest import need, session_headers
from tests.support import redisserver

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def redis_mode(tmp_path: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    need("redis-server", redisserver.available())
    server = redisserver.RedisServer(tmp_path)
    settings.REDIS_URL = server.url
    settings.CHANNEL_LAYERS = redis_channel_layers(server.url)  # the product's own configuration
    # Were the nudge missing, the line would only arrive after this long.
    monkeypatch.setattr(consumers, "NUDGED_POLL_SECONDS", 30.0)
    yield server.url
    server.stop()


async def test_a_new_line_arrives_by_the_redis_nudge(redis_mode: str, deployment: Deployment, admin: Any) -> None:
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/", headers=await sync_to_async(session_headers)(admin)
    )
    assert (await communicator.connect())[0]
    # Idle for longer than redis-py's default socket timeout (5 s): the socket stays.
    assert await communicator.receive_nothing(timeout=6)
    output = await sync_to_async(DeploymentOutput)(deployment, secrets=[])
    await sync_to_async(output.line)("pushed through redis")
    assert await communicator.receive_json_from(timeout=3) == {"type": "line", "seq": 1, "text": "pushed through redis"}
    await communicator.disconnect()


async def test_a_burst_of_lines_shares_nudges_and_its_last_line_still_arrives_at_once(
    redis_mode: str, deployment: Deployment, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    real_wake = output_module.wake_viewers

    def counted(deployment_id: int) -> None:
        sent.append(deployment_id)
        real_wake(deployment_id)

    monkeypatch.setattr(output_module, "wake_viewers", counted)
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/", headers=await sync_to_async(session_headers)(admin)
    )
    assert (await communicator.connect())[0]
    output = await sync_to_async(DeploymentOutput)(deployment, secrets=[], new=True)

    def burst() -> None:
        for i in range(1, 1001):
            output.line(f"line {i}")

    await sync_to_async(burst)()
    seen = [(await communicator.receive_json_from(timeout=3))["text"] for _ in range(1000)]
    assert seen[-1] == "line 1000"
    # The writer did not wait for a nudge per line (each costs milliseconds).
    assert 1 <= len(sent) < 500, f"{len(sent)} nudges for 1000 lines"
    await communicator.disconnect()
