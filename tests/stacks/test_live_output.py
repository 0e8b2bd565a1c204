"""The live-output WebSocket: refused without a session, backlog then live lines then
the final status, through the real ASGI application (auth and origin checks included)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dockhand.asgi import application
from stacks.models import Deployment, DeploymentLine
from stacks.services.output import DeploymentOutput
from tests.conftest import session_headers

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def test_without_a_session_the_socket_is_refused(deployment: Deployment) -> None:
    communicator = WebsocketCommunicator(
        application,
        f"/ws/deployments/{deployment.pk}/",
        headers=[(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")],
    )
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_another_sites_page_is_refused(deployment: Deployment, admin: Any) -> None:
    headers = [h for h in await sync_to_async(session_headers)(admin) if h[0] != b"origin"] + [
        (b"origin", b"http://evil.example")
    ]
    communicator = WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


async def test_backlog_then_live_lines_then_the_final_status(deployment: Deployment, admin: Any) -> None:
    output = await sync_to_async(DeploymentOutput)(deployment, secrets=["hunter2-secret"])
    await sync_to_async(output.line)("line one")
    await sync_to_async(output.line)("line two has hunter2-secret in it")
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/", headers=await sync_to_async(session_headers)(admin)
    )
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from(timeout=2) == {"type": "line", "seq": 1, "text": "line one"}
    assert await communicator.receive_json_from(timeout=2) == {
        "type": "line",
        "seq": 2,
        "text": "line two has ******** in it",
    }
    assert await communicator.receive_nothing(timeout=0.3)  # still running: nothing more yet
    await sync_to_async(output.line)("line three, printed while watching")
    assert await communicator.receive_json_from(timeout=2) == {
        "type": "line",
        "seq": 3,
        "text": "line three, printed while watching",
    }
    await sync_to_async(deployment.finish)(Deployment.Status.SUCCESS, deployed=True)
    final = await communicator.receive_json_from(timeout=2)
    assert final["type"] == "status" and final["status"] == "success" and final["deployed"] is True
    assert final["startedAt"] and final["durationMs"] is not None
    assert (await communicator.receive_output(timeout=2))["type"] == "websocket.close"


async def test_a_reconnect_resumes_after_the_last_seen_line(deployment: Deployment, admin: Any) -> None:
    await sync_to_async(
        lambda: [DeploymentLine.objects.create(deployment=deployment, seq=i, text=f"l{i}") for i in (1, 2, 3)]
    )()
    await sync_to_async(deployment.finish)(Deployment.Status.FAILED, error="boom")
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/?after=2", headers=await sync_to_async(session_headers)(admin)
    )
    assert (await communicator.connect())[0]
    assert await communicator.receive_json_from(timeout=2) == {"type": "line", "seq": 3, "text": "l3"}
    final = await communicator.receive_json_from(timeout=2)
    assert (final["status"], final["error"]) == ("failed", "boom")
    await asyncio.sleep(0)


async def test_an_unknown_deployment_is_refused(admin: Any) -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/deployments/999999/", headers=await sync_to_async(session_headers)(admin)
    )
    connected, code = await communicator.connect()
    assert not connected and code == 4404
