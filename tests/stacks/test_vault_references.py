"""Overrides that name a value in Vault / OpenBao (Step 15): `vault://<store>/<path>#<field>`
read at deploy time, never stored or returned; a value rotated in the store makes the
stack OutOfSync (status?refresh=true) and a sync applies it; a store that cannot be
reached fails the sync and leaves the stack running. A real OpenBao dev server, real
git server, real Docker engine."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.models import Deployment, GitStack, StackEnvVar
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport
from tests.support.vault import OpenBao

pytestmark = pytest.mark.django_db

FIRST = "CANARY-vault-first-1a9e"
ROTATED = "CANARY-vault-rotated-7b3f"
REF = "vault://bao/app/db#password"


def _store(api: Any, server: OpenBao, **login: str) -> dict[str, Any]:
    body = {"name": "bao", "kind": "vault", "url": server.url, "mount": "secret", **(login or {"token": server.token})}
    response = api.post("/api/secret-stores", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def _sync(api: Any, stack: dict[str, Any], **body: Any) -> dict[str, Any]:
    return dict(api.post(f"/api/git/stacks/{stack['id']}/sync", body, format="json").json())


def _status(api: Any, stack: dict[str, Any], refresh: bool = False) -> dict[str, Any]:
    response = api.get(f"/api/git/stacks/{stack['id']}/status" + ("?refresh=true" if refresh else ""))
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_a_reference_reaches_the_container_and_a_rotation_is_applied(
    api: Any, openbao: OpenBao, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    openbao.write("app/db", password=FIRST)
    store = _store(api, openbao)
    assert "token" not in store and store["hasToken"] is True
    assert api.post(f"/api/secret-stores/{store['id']}/test").json()["success"] is True
    repo = git_server.create_repo("vault-app", {"compose.yaml": compose_file()})
    stack = make_stack(repo, envFilePath="", envVars=[{"key": "SECRET", "secretRef": REF}])
    assert stack["envVars"] == [{"key": "SECRET", "value": None, "isSecret": True, "hasValue": True, "secretRef": REF}]
    assert StackEnvVar.objects.get(stack_id=stack["id"]).value == ""  # the store holds it, not dockhand

    first = _sync(api, stack)
    assert first["deployed"] is True, first
    assert dockersupport.container_env(container_name(stack))["SECRET"] == FIRST
    assert _status(api, stack, refresh=True)["syncState"] == "Synced"
    assert FIRST not in Deployment.objects.get(pk=first["deploymentId"]).output_text()

    openbao.write("app/db", password=ROTATED)
    assert _status(api, stack)["syncState"] == "Synced"  # not asked yet
    status = _status(api, stack, refresh=True)
    assert status["syncState"] == "OutOfSync" and status["reasons"] == ["secret SECRET changed in its store"]
    assert ROTATED not in str(status) and status["secretsError"] is None
    diff = api.get(f"/api/git/stacks/{stack['id']}/diff").json()
    assert diff["overrides"]["secretInputs"] == ["SECRET"] and ROTATED not in str(diff)

    applied = _sync(api, stack)
    assert applied["deployed"] is True, applied
    assert dockersupport.container_env(container_name(stack))["SECRET"] == ROTATED
    assert _status(api, stack, refresh=True)["syncState"] == "Synced"
    assert _sync(api, stack)["deployed"] is False  # nothing changed since

    # The store goes away: the sync fails clearly, what runs stays.
    openbao.write("app/db", password="CANARY-vault-never-deployed")
    openbao.stop()
    status = _status(api, stack, refresh=True)
    assert "unreachable" in status["secretsError"]
    failed = _sync(api, stack, force=True)
    assert failed["success"] is False
    assert f"override SECRET ({REF})" in failed["error"] and "unreachable" in failed["error"], failed
    assert dockersupport.container_env(container_name(stack))["SECRET"] == ROTATED
    assert GitStack.objects.get(pk=stack["id"]).sync_status == "failed"


def test_a_rotation_is_seen_by_a_sync_without_a_refresh(
    api: Any, openbao: OpenBao, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    openbao.write("app/db", password=FIRST)
    role_id, secret_id = openbao.approle("dockhand", paths="app/*")
    store = _store(api, openbao, roleId=role_id, secretId=secret_id)
    assert "secretId" not in store and store["roleId"] == role_id
    repo = git_server.create_repo("vault-approle", {"compose.yaml": compose_file()})
    stack = make_stack(repo, envFilePath="", envVars=[{"key": "SECRET", "secretRef": REF}])
    assert _sync(api, stack)["deployed"] is True
    openbao.write("app/db", password=ROTATED)
    assert _sync(api, stack)["deployed"] is True  # the sync asks the store itself
    assert dockersupport.container_env(container_name(stack))["SECRET"] == ROTATED


def test_references_are_validated_and_errors_name_what_is_wrong(
    api: Any, openbao: OpenBao, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    store = _store(api, openbao)
    repo = git_server.create_repo("vault-errors", {"compose.yaml": compose_file()})
    body = {"stackName": "refs", "url": repo.url, "skipSourceCheck": True}
    for ref, says in (
        ("vault://bao/app/db", "is not a reference"),
        ("https://bao/app/db#x", "is not a reference"),
        ("vault://nope/app/db#password", "no secret store named 'nope'"),
    ):
        refused = api.post("/api/git/stacks", {**body, "envVars": [{"key": "K", "secretRef": ref}]}, format="json")
        assert refused.status_code == 400 and refused.json()["error"].startswith("envVars: secretRef ")
        assert says in refused.json()["fields"]["envVars"]["0"]["secretRef"][0]
    both = api.post(
        "/api/git/stacks", {**body, "envVars": [{"key": "K", "value": "v", "secretRef": REF}]}, format="json"
    )
    assert both.status_code == 400 and "not both" in both.json()["fields"]["envVars"]["0"]["secretRef"][0]

    for ref, says in (("vault://bao/app/none#password", "has nothing there"), ("vault://bao/app/db#nope", "no field")):
        openbao.write("app/db", password=FIRST)
        stack = make_stack(repo, envFilePath="", envVars=[{"key": "SECRET", "secretRef": ref}])
        failed = _sync(api, stack)
        assert failed["success"] is False and says in failed["error"] and openbao.token not in failed["error"]
    # A wrong token: denied, and the token is not in the answer.
    api.put(f"/api/secret-stores/{store['id']}", {"token": "wrong-token-CANARY"}, format="json")
    tested = api.post(f"/api/secret-stores/{store['id']}/test").json()
    assert tested["success"] is False and "denied" in tested["message"] and "CANARY" not in tested["message"]
    # A store an override names is not deleted from under it.
    assert api.delete(f"/api/secret-stores/{store['id']}").status_code == 409


def test_only_administrators_manage_secret_stores(api: Any, deployer: Any, openbao: OpenBao) -> None:
    from rest_framework.test import APIClient

    store = _store(api, openbao)
    client = APIClient()
    client.force_login(deployer)
    assert (
        client.post("/api/secret-stores", {"name": "x", "url": openbao.url, "token": "t"}, format="json").status_code
        == 403
    )
    assert client.post(f"/api/secret-stores/{store['id']}/test").status_code == 403
    assert client.delete(f"/api/secret-stores/{store['id']}").status_code == 403
    missing = api.post("/api/secret-stores", {"name": "y", "url": openbao.url}, format="json")
    assert missing.status_code == 400 and "token" in missing.json()["error"]
    bad_url = api.post("/api/secret-stores", {"name": "z", "url": "ftp://x", "token": "t"}, format="json")
    assert bad_url.status_code == 400 and "url" in bad_url.json()["error"]


def test_the_schedule_asks_the_store_and_applies_a_rotation(
    api: Any, openbao: OpenBao, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from stacks.services.schedules import auto_sync_tick

    openbao.write("app/db", password=FIRST)
    _store(api, openbao)
    repo = git_server.create_repo("vault-schedule", {"compose.yaml": compose_file()})
    stack = make_stack(
        repo, envFilePath="", autoUpdate=True, autoUpdateCron="0 * * * *", envVars=[{"key": "SECRET", "secretRef": REF}]
    )
    assert _sync(api, stack)["deployed"] is True
    due = GitStack.objects.filter(pk=stack["id"])
    due.update(next_auto_sync=timezone.now() - timedelta(minutes=1))
    auto_sync_tick()  # nothing changed anywhere: skipped
    assert Deployment.objects.filter(stack_id=stack["id"], trigger="schedule").get().status == "skipped"

    openbao.write("app/db", password=ROTATED)
    due.update(next_auto_sync=timezone.now() - timedelta(minutes=1))
    auto_sync_tick()
    latest = Deployment.objects.filter(stack_id=stack["id"], trigger="schedule").latest("id")
    assert latest.status == "success", latest.error
    assert dockersupport.container_env(container_name(stack))["SECRET"] == ROTATED
