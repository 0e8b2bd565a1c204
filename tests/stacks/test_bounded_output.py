"""A deploy that prints 100,000 lines: each deployment keeps the head and the tail of its
output and says where it cut; lists carry no output; the page and the socket replay the
bounded output. A real build through the real engine prints the lines."""

from __future__ import annotations

import subprocess
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from dockhand.asgi import application
from stacks.models import Deployment, DeploymentLine
from tests.conftest import session_headers

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LOUD = """\
services:
  app:
    build: .
    image: {image}
    pull_policy: build
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
"""
# BuildKit clips a step's log past 200 KiB/s: five steps of 20,000 short lines stay under it.
STEPS = "".join(f"RUN echo {{nonce}} && seq {start} {start + 19_999}\n" for start in range(1, 100_001, 20_000))


@pytest.fixture
def loud_image() -> Iterator[str]:
    image = f"dockhand-test/loud-{uuid.uuid4().hex[:8]}:latest"
    yield image
    subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True)


async def _replay(deployment_id: int, user: Any) -> list[dict[str, Any]]:
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment_id}/", headers=await sync_to_async(session_headers)(user)
    )
    assert (await communicator.connect())[0]
    messages: list[dict[str, Any]] = []
    while not messages or messages[-1]["type"] != "status":
        messages.append(await communicator.receive_json_from(timeout=5))
    await communicator.disconnect()
    return messages


def test_a_100k_line_deploy_is_listed_small_and_shown_head_cut_and_tail(
    api: APIClient, admin: Any, app_repo: Any, make_stack: Any, docker_image: str, loud_image: str
) -> None:
    dockerfile = f"FROM {docker_image}\n" + STEPS.format(nonce=uuid.uuid4().hex)
    app_repo.commit({"compose.yaml": LOUD.format(image=loud_image), "Dockerfile": dockerfile}, "loud build")
    stack = make_stack(app_repo, buildOnDeploy=True)
    synced = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.json().get("error")
    deployment_id = synced.json()["deploymentId"]

    tracemalloc.start()
    try:
        for _ in range(5):
            listed = api.get(f"/api/git/stacks/{stack['id']}/deployments?limit=200")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert listed.status_code == 200
    assert peak < 16 * 1024 * 1024, f"listing held {peak:,} bytes at once"
    assert len(listed.content) < 256 * 1024, f"the list is {len(listed.content):,} bytes"
    (item,) = listed.json()["data"]
    assert "output" not in item and item["outputUrl"] == f"/api/deployments/{deployment_id}"

    detail = api.get(item["outputUrl"]).json()
    lines = detail["output"].splitlines()
    numbers = [line.rsplit(" ", 1)[-1] for line in lines]
    (cut,) = [i for i, line in enumerate(lines) if "lines left out" in line]
    assert lines[0].startswith("Deploying ") and "1" in numbers[:cut]  # the head: from the first line on
    assert "100000" in numbers[cut:] and lines[-1] == "All services are running and healthy"  # the tail: to the end
    assert "50000" not in numbers  # the middle is left out ...
    left_out = int(lines[cut].strip("… ").split()[0].replace(",", ""))
    assert left_out >= 90_000  # ... and the marker says how much
    assert len(lines) <= settings.OUTPUT_MAX_LINES
    assert DeploymentLine.objects.filter(deployment_id=deployment_id).count() <= settings.OUTPUT_MAX_LINES
    assert synced.json()["output"] == detail["output"]  # the sync's answer is the same bounded text

    # The socket replays the same bounded output, then the status, promptly.
    begun = time.monotonic()
    messages = async_to_sync(_replay)(deployment_id, admin)
    took = time.monotonic() - begun
    assert [m["text"] for m in messages[:-1]] == lines
    assert messages[-1]["status"] == "success"
    assert took < 60, f"the replay took {took:.1f} s"  # loose: the 100k lines would take minutes

    # The pages: the stack's history shows no output; the deployment page the bounded one.
    browser = Client()
    browser.force_login(admin)
    history = browser.get(f"/stacks/{stack['id']}/")
    assert history.status_code == 200 and len(history.content) < 256 * 1024
    page = browser.get(f"/deployments/{deployment_id}/").content.decode()
    assert "lines left out" in page and page.count("\n") < settings.OUTPUT_MAX_LINES + 200
    assert Deployment.objects.get(pk=deployment_id).status == "success"
