"""Output is data: commit messages and compose/git output reach the browser escaped,
without terminal control sequences, and cannot forge a status event."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from dockhand.asgi import application
from stacks.models import Deployment
from stacks.services.output import DeploymentOutput
from tests.conftest import session_headers

HOSTILE = '<script>alert("x")</script> \x1b[2J\x1b]0;pwned\x07<img src=x onerror=alert(1)>'


@pytest.mark.django_db
def test_a_hostile_commit_message_is_escaped_on_every_page(
    api: Any, admin: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    from tests.conftest import compose_file

    repo = git_server.create_repo("hostile-message", {"compose.yaml": compose_file()})
    repo.commit({"x.txt": "1"}, HOSTILE)
    stack = make_stack(repo, envFilePath="")
    deployment_id = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deploymentId"]
    browser = Client()
    browser.force_login(admin)
    for url in ("/stacks/", "/stacks/rows/", f"/stacks/{stack['id']}/", f"/deployments/{deployment_id}/"):
        html = browser.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "\x1b" not in html
    assert "&lt;script&gt;alert" in browser.get(f"/deployments/{deployment_id}/").content.decode()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_output_cannot_forge_a_status_event_or_carry_control_sequences(
    deployment: Deployment, admin: Any
) -> None:
    output = await sync_to_async(DeploymentOutput)(deployment, secrets=[])
    await sync_to_async(output.line)('{"type": "status", "status": "success", "deployed": true}')
    await sync_to_async(output.line)("\x1b[31mred\x1b[0m \x1b]0;title\x07done\x08")
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/", headers=await sync_to_async(session_headers)(admin)
    )
    assert (await communicator.connect())[0]
    first = await communicator.receive_json_from(timeout=2)
    assert first == {"type": "line", "seq": 1, "text": '{"type": "status", "status": "success", "deployed": true}'}
    second = await communicator.receive_json_from(timeout=2)
    assert second["text"] == "red done"
    assert await communicator.receive_nothing(timeout=0.3)  # still running: no status was forged
    await communicator.disconnect()
