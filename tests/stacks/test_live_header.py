"""The deployment page's header follows the run over the socket: a state message each
time status, commit, start or "can still be cancelled" change, and the page as
rendered says the same (so a page without script is right at load)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from dockhand.asgi import application
from gitsync.models import Repository
from stacks.models import Deployment, GitStack
from stacks.services.output import DeploymentOutput
from stacks.services.progress import deployment_state
from stacks.services.stacks import local_environment
from tests.conftest import session_headers

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _queued() -> Deployment:
    repo = Repository.objects.create(name="r", url="https://git.example.test/r.git")
    stack = GitStack.objects.create(name="s", environment=local_environment(), repository=repo, project_name="s")
    return Deployment.objects.create(stack=stack, trigger="manual")


async def _socket(deployment: Deployment, user: Any, query: str = "") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/{query}", headers=await sync_to_async(session_headers)(user)
    )
    assert (await communicator.connect())[0]
    return communicator


async def test_the_header_follows_queued_running_commit_cancel_and_the_end(admin: Any) -> None:
    deployment = await sync_to_async(_queued)()
    shown = deployment_state(deployment)
    assert shown["status"] == "queued" and shown["cancellable"] and shown["started"] == ""
    communicator = await _socket(deployment, admin, f"?after=0&version={shown['version']}")
    assert await communicator.receive_nothing(timeout=0.3)  # the page shows what is

    await sync_to_async(deployment.start)()
    running = await communicator.receive_json_from(timeout=2)
    assert running["type"] == "state" and running["status"] == "running"
    assert running["startedAt"] and running["started"] and running["cancellable"] is True
    assert running["version"] != shown["version"]

    await sync_to_async(deployment.record)(commit_sha="c0ffee" * 6 + "abcd", commit_message="Fix it\n\nbody")
    commit = await communicator.receive_json_from(timeout=2)
    assert commit["type"] == "state" and commit["commit"].startswith("c0ffee") and commit["commitMessage"] == "Fix it"

    await sync_to_async(deployment.ask_to_cancel)(by="user:admin")
    asked = await communicator.receive_json_from(timeout=2)
    assert asked["cancellable"] is False and asked["cancelRequestedBy"] == "user:admin"

    await sync_to_async(deployment.finish)(Deployment.Status.CANCELLED, error="Cancelled by user:admin")
    final = await communicator.receive_json_from(timeout=2)
    assert final["type"] == "status" and final["status"] == "cancelled" and final["cancellable"] is False
    assert final["duration"].endswith(" s") and final["durationMs"] is not None
    assert (await communicator.receive_output(timeout=2))["type"] == "websocket.close"


async def test_a_page_older_than_the_run_gets_the_state_at_once(admin: Any) -> None:
    deployment = await sync_to_async(_queued)()
    stale = deployment_state(deployment)["version"]
    await sync_to_async(deployment.start)()
    output = await sync_to_async(DeploymentOutput)(deployment, [], new=True)
    await sync_to_async(output.line)("already printed")
    communicator = await _socket(deployment, admin, f"?after=0&version={stale}")
    assert (await communicator.receive_json_from(timeout=2))["text"] == "already printed"
    state = await communicator.receive_json_from(timeout=2)
    assert state["type"] == "state" and state["status"] == "running"
    await communicator.disconnect()


def _page(user: Any, deployment: Deployment) -> str:
    client = Client()
    client.force_login(user)
    return str(client.get(f"/deployments/{deployment.pk}/").content.decode())


def test_the_page_renders_the_same_state_and_offers_cancel_while_it_can(admin: Any, viewer: Any) -> None:
    deployment = _queued()
    page = _page(admin, deployment)
    assert f'data-version="{deployment_state(deployment)["version"]}"' in page
    assert re.search(r'<form [^>]*id="cancel-form"(?![^>]*hidden)', page)
    assert "Queued: waiting for a worker" in page
    assert 'id="cancel"' not in _page(viewer, deployment)  # a viewer may not cancel

    deployment.start()
    deployment.finish(Deployment.Status.SUCCESS, deployed=True)
    page = _page(admin, deployment)
    assert re.search(r'<form [^>]*id="cancel-form"[^>]*hidden', page)
    assert "Finished." in page and re.search(r'id="duration">\d+\.\d s</dd>', page)


def test_cancel_on_a_run_that_ended_meanwhile_says_so(admin: Any) -> None:
    deployment = _queued()
    deployment.start()
    deployment.finish(Deployment.Status.SUCCESS, deployed=True)
    client = Client()
    client.force_login(admin)
    answer = client.post(f"/deployments/{deployment.pk}/cancel/", follow=True)
    assert answer.status_code == 200 and answer.redirect_chain[-1][0] == f"/deployments/{deployment.pk}/"
    assert "Deployment #1 had already ended: success." in answer.content.decode()
