"""The output module keeps a deployment's head and tail and says where it cut: at every
moment, so a viewer that follows by `seq`, one that fell behind, and a crash mid-deploy
all see something whole. Through the real database and the real socket consumer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dockhand.asgi import application
from stacks.models import Deployment, DeploymentLine
from stacks.services.output import DeploymentOutput
from tests.conftest import session_headers

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _rows(deployment: Deployment) -> list[tuple[int, str]]:
    return list(DeploymentLine.objects.filter(deployment=deployment).values_list("seq", "text"))


def test_it_keeps_the_head_and_the_tail_and_says_how_many_lines_it_left_out(
    deployment: Deployment, settings: Any
) -> None:
    settings.OUTPUT_MAX_LINES = 100
    output = DeploymentOutput(deployment, ["hunter2-secret"], new=True)
    for i in range(1, 1001):
        output.line(f"line {i} hunter2-secret")
    text = deployment.output_text().splitlines()
    assert text[:50] == [f"line {i} ********" for i in range(1, 51)]
    cut = text[50]
    assert cut.startswith("… ") and cut.endswith(" lines left out …")
    left_out = int(cut.split()[1].replace(",", ""))
    tail = text[51:]
    assert tail == [f"line {i} ********" for i in range(1001 - len(tail), 1001)]
    assert 50 + left_out + len(tail) == 1000  # every line is shown or counted
    assert 40 <= len(tail) <= 49 and len(text) <= 100
    seqs = [seq for seq, _ in _rows(deployment)]
    assert seqs == sorted(seqs) and seqs[-1] == 1000  # in order, numbered as printed


def test_the_rows_never_exceed_the_limit_while_it_writes(deployment: Deployment, settings: Any) -> None:
    settings.OUTPUT_MAX_LINES = 20
    output = DeploymentOutput(deployment, [], new=True)
    for i in range(1, 301):
        output.line(f"line {i}")
        rows = _rows(deployment)
        assert len(rows) <= 20
        texts = [text for _, text in rows]
        # What a crash at this moment would leave: the head, a marker once needed, the newest line.
        assert texts[:10] == [f"line {n}" for n in range(1, min(i, 10) + 1)] and texts[-1] == f"line {i}"
        if i > 20:
            assert "lines left out" in texts[10]


def test_a_later_writer_continues_after_the_last_line_not_the_row_count(deployment: Deployment, settings: Any) -> None:
    settings.OUTPUT_MAX_LINES = 20
    output = DeploymentOutput(deployment, [], new=True)
    for i in range(1, 101):
        output.line(f"line {i}")
    # As `deployment_cancel` does, or a worker that picks the deployment up again.
    DeploymentOutput(deployment, []).line("Cancelled by user:admin")
    rows = _rows(deployment)
    assert rows[-1] == (101, "Cancelled by user:admin") and rows[-2] == (100, "line 100")
    assert len(rows) <= 20


def test_an_overlong_line_is_cut(deployment: Deployment) -> None:
    DeploymentOutput(deployment, [], new=True).line("x" * 100_000)
    (text,) = deployment.output_text().splitlines()
    assert text.startswith("x" * 2000) and text.endswith(" … 98,000 characters left out")


def test_a_long_output_is_stored_within_the_default_limit(deployment: Deployment, settings: Any) -> None:
    output = DeploymentOutput(deployment, ["hunter2-secret"], new=True)
    for i in range(1, 20_001):
        output.line(f"#7 12.34 compiling module {i} of 20000")
    rows = _rows(deployment)
    assert len(rows) <= settings.OUTPUT_MAX_LINES == 5000
    assert rows[0][1].endswith("module 1 of 20000") and rows[-1][1].endswith("module 20000 of 20000")
    assert sum(len(text) for _, text in rows) < 1024 * 1024


async def _receive_lines(communicator: WebsocketCommunicator, count: int) -> list[tuple[int, str]]:
    return [
        (message["seq"], message["text"])
        for message in [await communicator.receive_json_from(timeout=5) for _ in range(count)]
    ]


async def test_a_viewer_following_live_sees_every_line_and_no_marker(
    deployment: Deployment, admin: Any, settings: Any
) -> None:
    settings.OUTPUT_MAX_LINES = 10
    output = await sync_to_async(DeploymentOutput)(deployment, [], new=True)
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/", headers=await sync_to_async(session_headers)(admin)
    )
    assert (await communicator.connect())[0]
    for i in range(1, 41):
        await sync_to_async(output.line)(f"line {i}")
        assert await _receive_lines(communicator, 1) == [(i, f"line {i}")]
    await sync_to_async(deployment.finish)(Deployment.Status.SUCCESS, deployed=True)
    assert (await communicator.receive_json_from(timeout=5))["type"] == "status"
    await communicator.disconnect()


async def test_a_viewer_that_fell_behind_gets_the_marker_then_the_tail(
    deployment: Deployment, admin: Any, settings: Any
) -> None:
    settings.OUTPUT_MAX_LINES = 10
    output = await sync_to_async(DeploymentOutput)(deployment, [], new=True)
    for i in range(1, 1001):
        await sync_to_async(output.line)(f"line {i}")
    await sync_to_async(deployment.finish)(Deployment.Status.SUCCESS, deployed=True)
    rows = await sync_to_async(_rows)(deployment)
    marker = next(i for i, (_, text) in enumerate(rows) if "lines left out" in text)
    # Its socket dropped at line 7 and resumes there; lines 8 to ~990 are gone meanwhile.
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/?after=7", headers=await sync_to_async(session_headers)(admin)
    )
    assert (await communicator.connect())[0]
    seen = await _receive_lines(communicator, len(rows) - marker)
    assert seen == rows[marker:] and seen[-1] == (1000, "line 1000")
    assert (await communicator.receive_json_from(timeout=5))["type"] == "status"
    await communicator.disconnect()
