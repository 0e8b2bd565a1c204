"""The canary sweep: unique values for a token, an SSH key, a secret override and a
webhook secret; then successful, failing and crashing syncs, webhooks good and bad, a
container named and labelled after the secret override, a restart; then every API
response (containers, status, audit, health too), stored output, socket frame, log line
and page is searched. Zero hits. (The webhook secret is shown to its owner by design — spec §3 — so that one
field, and the page input that copies it, are the only places it may appear.)"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from dockhand.asgi import application
from stacks import compose
from stacks.models import Deployment
from tests.conftest import GIT_USER, compose_file, session_headers
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TOKEN = "CANARY-token-7c1d9e"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nCANARY-sshkey-41f0aa\n-----END OPENSSH PRIVATE KEY-----"
OVERRIDE = "CANARY-override-2b8e55"
WEBHOOK = "CANARY-webhook-secret-93ad11f0c4"
REGISTRY = "CANARY-registry-6e2f0b"  # a registry login's password (Step 13)
CANARIES = (TOKEN, "CANARY-sshkey-41f0aa", OVERRIDE, WEBHOOK, REGISTRY)


RUN = uuid.uuid4().hex[:8]  # container names are the engine's: unique to this run


def _named(compose: str) -> str:
    """The compose file with its container named and labelled after the secret override."""
    return compose.replace(
        "    pull_policy: never\n",
        "    pull_policy: never\n"
        f"    container_name: c-${{SECRET}}-{RUN}\n"
        '    labels:\n      canary.label: "l-${SECRET}"\n',
    )


async def _frames(deployment_id: int, user: Any) -> list[str]:
    communicator = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment_id}/", headers=await sync_to_async(session_headers)(user)
    )
    assert (await communicator.connect())[0]
    frames = []
    while True:
        message = await communicator.receive_json_from(timeout=5)
        frames.append(json.dumps(message))
        if message["type"] == "status":
            return frames


def test_no_secret_appears_anywhere(
    api: Any,
    admin: Any,
    git_server: Any,
    docker_image: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(git_server, "password", TOKEN)  # the server wants the canary token (this test only)
    seen: list[str] = []

    def keep(response: Any) -> Any:
        seen.append(response.content.decode(errors="replace"))
        return response

    keep(
        api.post(
            "/api/git/credentials",
            {"name": "ssh", "authType": "ssh", "sshPrivateKey": SSH_KEY, "urlPrefixes": ["ssh://git.example.test/"]},
            format="json",
        )
    )
    cred = keep(
        api.post(
            "/api/git/credentials",
            {
                "name": "tok",
                "authType": "token",
                "username": GIT_USER,
                "token": TOKEN,
                "urlPrefixes": [git_server.prefix],
            },
            format="json",
        )
    ).json()
    login = {"name": "reg", "url": "127.0.0.1:9", "username": "u", "password": REGISTRY}  # (nothing listens on 9)
    registry = keep(api.post("/api/registries", login, format="json")).json()
    keep(api.post(f"/api/registries/{registry['id']}/test"))
    leaky = compose_file().replace("image: dockhand-test/busybox:1", "image: dockhand-test/busybox:${SECRET}")
    good = git_server.create_repo("canary-good", {"compose.yaml": _named(compose_file())})
    bad = git_server.create_repo("canary-bad", {"compose.yaml": leaky})
    stacks = []
    for name, repo in (("good", good), ("bad", bad), ("crash", good)):
        created = api.post(
            "/api/git/stacks",
            {
                "stackName": f"canary-{name}",
                "url": repo.url,
                "credentialId": cred["id"],
                "webhookEnabled": True,
                "webhookSecret": WEBHOOK,
                "envVars": [{"key": "SECRET", "value": OVERRIDE, "isSecret": True}],
            },
            format="json",
        ).json()
        assert created.pop("webhookSecret") == WEBHOOK  # its owner sees it, by design
        seen.append(json.dumps(created))
        stacks.append(created)
    good_stack, bad_stack, crash_stack = stacks

    assert keep(api.post(f"/api/git/stacks/{good_stack['id']}/sync", {}, format="json")).json()["deployed"] is True
    assert keep(api.post(f"/api/git/stacks/{bad_stack['id']}/sync", {}, format="json")).json()["success"] is False

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"unexpected failure while handling {OVERRIDE}")

    monkeypatch.setattr(compose, "config", crash)
    crashed = keep(api.post(f"/api/git/stacks/{crash_stack['id']}/sync", {}, format="json")).json()
    assert crashed["success"] is False and "Internal error" in crashed["error"]
    monkeypatch.undo()

    new = good.commit({"compose.yaml": _named(compose_file("2"))}, "v2")
    hook = hooks.github_push(good, WEBHOOK, before=good_stack["lastCommit"] or new, shas=[new])
    keep(
        APIClient().post(
            f"/api/git/stacks/{good_stack['id']}/webhook",
            data=hook.body,
            content_type="application/json",
            **hook.meta(),
        )
    )
    forged = hooks.Hook(
        hook.body, {**hook.headers, "X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Delivery": "other"}
    )
    keep(
        APIClient().post(
            f"/api/git/stacks/{good_stack['id']}/webhook",
            data=forged.body,
            content_type="application/json",
            **forged.meta(),
        )
    )
    keep(
        APIClient().post(
            f"/api/git/stacks/{good_stack['id']}/webhook",
            data=b"{}",
            content_type="application/json",
            HTTP_X_WEBHOOK_SECRET="wrong",
        )
    )

    for url in (
        "/api/git/credentials",
        "/api/git/repositories",
        "/api/environments",
        "/api/health",
        "/api/deployments/999999",
    ):
        keep(api.get(url))
    for stack in stacks:
        shown = api.get(f"/api/git/stacks/{stack['id']}").json()
        assert shown.pop("webhookSecret") == WEBHOOK  # shown to its owner, by design
        seen.append(json.dumps(shown))
        listing = next(s for s in api.get("/api/git/stacks").json() if s["id"] == stack["id"])
        listing.pop("webhookSecret")
        seen.append(json.dumps(listing))
        keep(api.get(f"/api/git/stacks/{stack['id']}/deployments"))
        keep(api.get(f"/api/git/stacks/{stack['id']}/webhooks"))
        keep(api.get(f"/api/git/stacks/{stack['id']}/containers"))
        keep(api.get(f"/api/git/stacks/{stack['id']}/status"))
    running = keep(api.get(f"/api/git/stacks/{good_stack['id']}/containers")).json()
    assert [c["name"] for c in running] == [f"c-********-{RUN}"]  # named after the canary, masked
    assert keep(api.post(f"/api/git/stacks/{good_stack['id']}/restart")).json()["success"] is True
    keep(api.get("/api/audit?limit=200"))
    keep(api.get("/api/registries"))
    keep(APIClient().get("/api/health"))

    browser = Client()
    browser.force_login(admin)
    pages = ["/stacks/", "/credentials/", "/repositories/", "/credentials/1/edit/", "/nonexistent-page/", "/audit/"]
    pages += ["/registries/", f"/registries/{registry['id']}/edit/"]
    for stack in stacks:
        pages += [f"/stacks/{stack['id']}/", f"/stacks/{stack['id']}/edit/"]
    for deployment in Deployment.objects.all():
        pages.append(f"/deployments/{deployment.pk}/")
        seen.append(deployment.output_text() + deployment.error + deployment.commit_message)
        seen.extend(async_to_sync(_frames)(deployment.pk, admin))
    for page in pages:
        html = browser.get(page).content.decode()
        seen.append(html.replace(f'value="{WEBHOOK}" id="webhook-secret"', 'id="webhook-secret"'))
    seen.extend(record.getMessage() + (record.exc_text or "") for record in caplog.records)

    assert (
        Deployment.objects.filter(status="success").exists() and Deployment.objects.filter(status="failed").count() >= 2
    )
    everything = "\n".join(seen)
    assert "Deploying" in everything and "********" in everything  # the sweep did see outputs and masks
    for canary in CANARIES:
        assert canary not in everything, f"{canary} leaked"
    for stack in stacks:
        from tests.support import docker as dockersupport

        dockersupport.remove_project(stack["projectName"])
