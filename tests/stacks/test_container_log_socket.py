"""Following a container's log over the WebSocket, through the real ASGI application
(session and origin checks included) and the real engine: the last lines, then each
line as the container prints it, masked; a reconnect that resumes after the last line;
bounded in rate and time; refused for containers of other projects and for callers who
do not see the stack; the engine's stream closed when the page goes away."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dockhand.asgi import application
from dockhand.masking import MASK
from stacks import consumers, engine
from tests.conftest import SECRET_VALUE, container_name, session_headers
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def chatty(api: Any, git_server: Any, make_stack: Any, docker_image: str) -> dict[str, Any]:
    repo = git_server.create_repo(f"chatty-{uuid.uuid4().hex[:8]}", {"compose.yaml": dockersupport.chatty_compose()})
    stack = make_stack(repo, envFilePath="")
    synced = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.content
    return stack


@pytest.fixture
def other_project(docker_image: str) -> Iterator[str]:
    name = f"dh-other-{uuid.uuid4().hex[:8]}"
    labels = ["--label", f"com.docker.compose.project=other-{name}"]
    subprocess.run(["docker", "run", "-d", "--name", name, *labels, docker_image, "sleep", "3600"], check=True)
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)


async def _open(user: Any, stack: dict[str, Any], ref: str, query: str = "") -> WebsocketCommunicator:
    headers = await sync_to_async(session_headers)(user) if user is not None else []
    if user is None:
        headers = [(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")]
    return WebsocketCommunicator(
        application, f"/ws/stacks/{stack['id']}/containers/{ref}/logs/{query}", headers=headers
    )


async def _texts(communicator: WebsocketCommunicator, count: int) -> list[dict[str, str]]:
    """The next `count` lines, whatever messages they come in."""
    got: list[dict[str, str]] = []
    while len(got) < count:
        message = await communicator.receive_json_from(timeout=10)
        assert message["type"] == "lines", message
        got += message["lines"]
    return got


def _readers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "container-log")


async def test_a_log_is_followed_live_masked_and_resumed_after_its_last_line(
    chatty: dict[str, Any], viewer: Any
) -> None:
    name = container_name(chatty)
    follower = await _open(viewer, chatty, name, "?tail=5")
    connected, _ = await follower.connect()
    assert connected
    first = await _texts(follower, 2)
    assert [line["text"] for line in first] == [f"booting with {MASK}", "ready"]
    assert all(line["time"].endswith("Z") for line in first)
    assert await follower.receive_nothing(timeout=0.5)  # nothing new yet: it waits

    await sync_to_async(dockersupport.print_line)(name, f"printed now, with {SECRET_VALUE}")
    live = await _texts(follower, 1)
    assert live[0]["text"] == f"printed now, with {MASK}"
    await follower.disconnect()
    # The page went away: the engine's stream is closed and its reader thread ends.
    for _ in range(50):
        if _readers() == 0:
            break
        await asyncio.sleep(0.1)
    assert _readers() == 0

    # A reconnect from the line it saw first gets every later line, none twice.
    await sync_to_async(dockersupport.print_line)(name, "printed while away")
    again = await _open(viewer, chatty, name, f"?after={first[0]['time']}")
    assert (await again.connect())[0]
    rest = await _texts(again, 3)
    assert [line["text"] for line in rest] == ["ready", f"printed now, with {MASK}", "printed while away"]
    assert await again.receive_nothing(timeout=0.5)

    # The container stops: the follow says so and closes.
    await sync_to_async(subprocess.run)(["docker", "stop", "-t", "1", name], check=True, capture_output=True)
    ended = await again.receive_json_from(timeout=15)
    assert ended == {"type": "end", "reason": consumers.STOPPED}
    assert (await again.receive_output(timeout=5))["type"] == "websocket.close"


async def test_a_flood_is_cut_to_the_rate_and_a_follow_ends_in_time(
    chatty: dict[str, Any], admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = container_name(chatty)
    monkeypatch.setattr(consumers, "LOG_LINES_PER_SECOND", 5)
    follower = await _open(admin, chatty, name, "?tail=0")
    assert (await follower.connect())[0]
    await sync_to_async(subprocess.run)(
        ["docker", "exec", name, "sh", "-c", "seq 1 400 > /proc/1/fd/1"], check=True, capture_output=True
    )
    passed: list[str] = []
    skipped = 0
    while len(passed) + skipped < 400:
        message = await follower.receive_json_from(timeout=10)
        if message["type"] == "lines":
            passed += [line["text"] for line in message["lines"]]
        else:
            assert message["type"] == "skipped", message
            skipped += message["count"]
    # The burst (the tail asked for, none, plus a second's worth), then five a second.
    assert passed[:5] == ["1", "2", "3", "4", "5"]
    assert len(passed) <= 10 and len(passed) + skipped == 400, (passed, skipped)
    await follower.disconnect()

    monkeypatch.setattr(consumers, "LOG_FOLLOW_SECONDS", 1)
    short = await _open(admin, chatty, name, "?tail=1")
    assert (await short.connect())[0]
    assert (await _texts(short, 1))[0]["text"] == "400"
    ended = await short.receive_json_from(timeout=5)
    assert ended["type"] == "end" and ended["reason"].startswith("Followed for 0 minutes")
    assert (await short.receive_output(timeout=5))["type"] == "websocket.close"


async def test_only_the_stacks_own_containers_for_those_who_see_it(
    chatty: dict[str, Any], admin: Any, outsider: Any, other_project: str
) -> None:
    for user, ref, code in (
        (None, container_name(chatty), 4401),  # no session
        (outsider, container_name(chatty), 4404),  # does not see the stack
        (admin, other_project, 4404),  # another project's container, even for an owner
        (admin, "nothing-here", 4404),
    ):
        communicator = await _open(user, chatty, ref)
        connected, code_seen = await communicator.connect()
        assert not connected and code_seen == code, (ref, code_seen)
    headers = [h for h in await sync_to_async(session_headers)(admin) if h[0] != b"origin"]
    elsewhere = WebsocketCommunicator(
        application,
        f"/ws/stacks/{chatty['id']}/containers/{container_name(chatty)}/logs/",
        headers=[*headers, (b"origin", b"http://evil.example")],
    )
    assert not (await elsewhere.connect())[0]


async def test_an_engine_that_cannot_be_asked_ends_the_follow_with_its_reason_masked(
    chatty: dict[str, Any], viewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise engine.EngineError(f"Cannot list containers: {SECRET_VALUE} is unreachable")

    monkeypatch.setattr(engine, "project_containers", refuse)
    follower = await _open(viewer, chatty, container_name(chatty))
    assert (await follower.connect())[0]
    assert await follower.receive_json_from(timeout=5) == {
        "type": "end",
        "reason": f"Cannot list containers: {MASK} is unreachable",
    }
    assert (await follower.receive_output(timeout=5))["type"] == "websocket.close"
