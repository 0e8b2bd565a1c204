"""The canary sweep for secrets from where they live (Step 15): a SOPS-encrypted env file
with an age key, and `vault://` references to a real OpenBao (a token store and an
AppRole store); deploys that work, a rotation applied, a wrong key and a stopped store
that fail; a container named after a store value that prints every value into its log.
Then every API answer, stored output and error, socket frame (the deployments' and the
live container log's), container log, page, log record, file of the data directory and
row of the database is searched for the decrypted values, the store values, the age
keys, the token and the AppRole secret id. Zero hits."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from dockhand.asgi import application
from dockhand.masking import MASK
from stacks.models import Deployment
from tests.adversarial.test_canary_sweep import _frames
from tests.conftest import session_headers
from tests.support import docker as dockersupport
from tests.support.at_rest import database_text
from tests.support.vault import OpenBao, age_key, sops_encrypt

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SOPS_VALUE = "CANARY-sops-decrypted-5e71c2"
SOPS_QUOTED = "CANARY-sops-quoted-88ad03"
STORE_VALUE = "CANARY-store-value-0b4d9a"
ROTATED = "CANARY-store-rotated-c3e8f1"
APPROLE_VALUE = "CANARY-approle-value-19f7e2"
RUN = uuid.uuid4().hex[:8]

COMPOSE = f"""\
services:
  app:
    image: dockhand-test/busybox:1
    pull_policy: never
    container_name: c-${{FROM_STORE}}-{RUN}
    labels:
      canary.label: "l-${{FROM_SOPS}}"
    command: ["sh", "-c", "echo sops=$$FROM_SOPS quoted=$$QUOTED store=$$FROM_STORE role=$$FROM_ROLE; sleep 3600"]
    stop_grace_period: 1s
    environment:
      FROM_SOPS: ${{FROM_SOPS:-unset}}
      QUOTED: ${{QUOTED:-unset}}
      FROM_STORE: ${{FROM_STORE:-unset}}
      FROM_ROLE: ${{FROM_ROLE:-unset}}
"""


async def _log_frames(stack_id: int, ref: str, user: Any) -> list[str]:
    """The live container-log socket's frames up to the line the container printed."""
    communicator = WebsocketCommunicator(
        application,
        f"/ws/stacks/{stack_id}/containers/{ref}/logs/?tail=5",
        headers=await sync_to_async(session_headers)(user),
    )
    assert (await communicator.connect())[0]
    frames: list[str] = []
    try:
        while not any("sops=" in frame for frame in frames):
            frames.append(json.dumps(await communicator.receive_json_from(timeout=10)))
    finally:
        await communicator.disconnect()
    return frames


def test_no_decrypted_or_resolved_secret_appears_anywhere(
    api: Any,
    admin: Any,
    openbao: OpenBao,
    git_server: Any,
    token_credential: dict[str, Any],
    docker_image: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def keep(response: Any) -> Any:
        seen.append(response.content.decode(errors="replace"))
        return response

    key, wrong = age_key(), age_key()
    openbao.write("app/db", password=STORE_VALUE)
    openbao.write("app/role", value=APPROLE_VALUE)
    role_id, secret_id = openbao.approle("canary", paths="app/*")
    canaries = [SOPS_VALUE, SOPS_QUOTED, STORE_VALUE, ROTATED, APPROLE_VALUE]
    canaries += [key.identity, wrong.identity, openbao.token, secret_id]

    age = keep(
        api.post("/api/git/credentials", {"name": "age", "authType": "age", "ageKey": key.identity}, format="json")
    ).json()
    other = keep(
        api.post("/api/git/credentials", {"name": "wrong", "authType": "age", "ageKey": wrong.identity}, format="json")
    ).json()
    store = keep(
        api.post("/api/secret-stores", {"name": "bao", "url": openbao.url, "token": openbao.token}, format="json")
    ).json()
    role_store = keep(
        api.post(
            "/api/secret-stores",
            {"name": "role", "url": openbao.url, "roleId": role_id, "secretId": secret_id},
            format="json",
        )
    ).json()
    keep(api.post(f"/api/secret-stores/{store['id']}/test"))
    keep(api.post(f"/api/secret-stores/{role_store['id']}/test"))
    encrypted = sops_encrypt(f'FROM_SOPS={SOPS_VALUE}\nQUOTED="{SOPS_QUOTED}"\n', key.recipient)
    repo = git_server.create_repo("canary-sources", {"compose.yaml": COMPOSE, "secrets.env": encrypted})
    stack = keep(
        api.post(
            "/api/git/stacks",
            {
                "stackName": "canary-sources",
                "url": repo.url,
                "credentialId": token_credential["id"],
                "envFilePath": "secrets.env",
                "sopsCredentialId": age["id"],
                "envVars": [
                    {"key": "FROM_STORE", "secretRef": "vault://bao/app/db#password"},
                    {"key": "FROM_ROLE", "secretRef": "vault://role/app/role#value"},
                ],
            },
            format="json",
        )
    ).json()
    sid = stack["id"]
    try:
        assert keep(api.post(f"/api/git/stacks/{sid}/sync", {}, format="json")).json()["deployed"] is True
        name = f"c-{STORE_VALUE}-{RUN}"
        env = dockersupport.container_env(name)
        assert (env["FROM_SOPS"], env["QUOTED"], env["FROM_STORE"], env["FROM_ROLE"]) == (
            SOPS_VALUE,
            SOPS_QUOTED,
            STORE_VALUE,
            APPROLE_VALUE,
        )  # they were there to leak
        openbao.write("app/db", password=ROTATED)
        keep(api.get(f"/api/git/stacks/{sid}/status?refresh=true"))
        keep(api.get(f"/api/git/stacks/{sid}/diff"))
        assert keep(api.post(f"/api/git/stacks/{sid}/sync", {}, format="json")).json()["deployed"] is True
        running = keep(api.get(f"/api/git/stacks/{sid}/containers")).json()
        assert [c["name"] for c in running] == [f"c-********-{RUN}"]  # named after a store value, masked
        log = keep(api.get(f"/api/git/stacks/{sid}/containers/{running[0]['id']}/logs")).content.decode()
        assert "sops=********" in log and "store=********" in log  # the log was read, and masked
        followed = "".join(async_to_sync(_log_frames)(sid, running[0]["id"], admin))
        assert f"sops={MASK} quoted={MASK} store={MASK} role={MASK}" in followed  # the live log too
        seen.append(followed)

        api.put(f"/api/git/stacks/{sid}", {"sopsCredentialId": other["id"]}, format="json")
        wrong_key = keep(api.post(f"/api/git/stacks/{sid}/sync", {"force": True}, format="json")).json()
        assert "could not decrypt secrets.env with the age key wrong" in wrong_key["error"]
        api.put(f"/api/git/stacks/{sid}", {"sopsCredentialId": age["id"]}, format="json")
        openbao.stop()
        keep(api.get(f"/api/git/stacks/{sid}/status?refresh=true"))
        down = keep(api.post(f"/api/git/stacks/{sid}/sync", {"force": True}, format="json")).json()
        assert down["success"] is False and "unreachable" in down["error"]

        for url in (
            f"/api/git/stacks/{sid}",
            "/api/git/stacks",
            f"/api/git/stacks/{sid}/deployments",
            f"/api/git/stacks/{sid}/status",
            f"/api/git/stacks/{sid}/diff",
            f"/api/git/stacks/{sid}/containers",
            "/api/git/credentials",
            f"/api/git/credentials/{age['id']}",
            "/api/secret-stores",
            f"/api/secret-stores/{store['id']}",
            f"/api/secret-stores/{role_store['id']}",
            "/api/audit?limit=200",
        ):
            keep(api.get(url))
        browser = Client()
        browser.force_login(admin)
        pages = [
            "/stacks/",
            f"/stacks/{sid}/",
            f"/stacks/{sid}/edit/",
            f"/stacks/{sid}/containers/",
            "/credentials/",
            f"/credentials/{age['id']}/edit/",
            "/secret-stores/",
            f"/secret-stores/{store['id']}/edit/",
            f"/secret-stores/{role_store['id']}/edit/",
            "/audit/",
        ]
        for deployment in Deployment.objects.all():
            pages.append(f"/deployments/{deployment.pk}/")
            seen.append(deployment.output_text() + deployment.error + deployment.resolved)
            seen.append(str(deployment.env_snapshot) + str(deployment.config))
            seen.extend(async_to_sync(_frames)(deployment.pk, admin))
        for page in pages:
            seen.append(browser.get(page).content.decode())
        seen.extend(record.getMessage() + (record.exc_text or "") for record in caplog.records)
        files = [p for p in settings.DATA_DIR.rglob("*") if p.is_file()]
        assert settings.STACKS_DIR / str(sid) / "repo" / "secrets.env" in files  # the working copy was swept
        for path in files:
            seen.append(path.read_bytes().decode(errors="replace"))
        # The database is no file of the data directory here (SQLite in memory, or
        # PostgreSQL): its rows are read instead. What secrets it keeps (the age keys,
        # the token, the secret id, the values to mask) it keeps encrypted.
        rows = database_text()
        assert "Deploying" in rows and role_id in rows and openbao.url in rows  # outputs and stores were read
        for canary in canaries:
            assert canary not in rows, f"{canary[:24]}… is in the database"
    finally:
        dockersupport.remove_project(stack["projectName"])

    everything = "\n".join(seen)
    assert "Deploying" in everything and "********" in everything  # the sweep saw outputs and masks
    for canary in canaries:
        assert canary not in everything, f"{canary[:24]}… leaked"
