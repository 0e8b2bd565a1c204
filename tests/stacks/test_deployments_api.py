"""Deployments across stacks (Step 16): `GET /api/deployments` in the seed's paged shape,
only what the caller may see, and `DELETE /api/deployments/<id>` (gone from the history,
kept in the audit log, nothing left pointing at it)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dockhand.models import AuditEvent
from gitsync.models import Repository
from stacks.models import Deployment, DeploymentLine, Environment, GitStack
from stacks.services.stacks import local_environment

pytestmark = pytest.mark.django_db


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _done(stack: GitStack, status: str, *, sha: str = "a" * 40, **fields: Any) -> Deployment:
    deployment = Deployment.objects.create(stack=stack, trigger="api", commit_sha=sha, **fields)
    deployment.finish(status, deployed=status == "success", error="boom" if status == "failed" else "")
    return deployment


@pytest.fixture
def history() -> dict[str, Any]:
    repository = Repository.objects.create(name="r", url="https://git.example.test/r.git")
    other = Environment.objects.create(name="other")
    web, api_stack, elsewhere = (
        GitStack.objects.create(name=name, environment=env, repository=repository, project_name=name)
        for name, env in (("web", local_environment()), ("api", local_environment()), ("far", other))
    )
    applied = _done(web, "success", sha="b" * 40)
    web.record(last_commit="b" * 40)
    return {
        "web": web,
        "api": api_stack,
        "far": elsewhere,
        "applied": applied,
        "web_failed": _done(web, "failed"),
        "api_failed": _done(api_stack, "failed"),
        "api_ok": _done(api_stack, "success"),
        "far_failed": _done(elsewhere, "failed"),
    }


def _ids(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.content
    return [d["id"] for d in answer.json()["data"]]


def test_the_failed_deployments_of_two_stacks_are_listed_together(api: APIClient, history: dict[str, Any]) -> None:
    answer = api.get("/api/deployments?status=failed&environmentId=" + str(local_environment().pk))
    assert _ids(answer) == [history["api_failed"].pk, history["web_failed"].pk]  # newest first
    assert answer.json()["meta"] == {"total": 2, "limit": 20, "offset": 0}
    shown = answer.json()["data"][0]
    assert shown["stackId"] == history["api"].pk and shown["status"] == "failed" and shown["error"] == "boom"
    assert shown["outputUrl"] == f"/api/deployments/{history['api_failed'].pk}" and "output" not in shown


def test_filters_and_pages(api: APIClient, history: dict[str, Any]) -> None:
    assert _ids(api.get(f"/api/deployments?stackId={history['web'].pk}")) == [
        history["web_failed"].pk,
        history["applied"].pk,
    ]
    everything = api.get("/api/deployments?limit=2&offset=1")
    assert everything.json()["meta"] == {"total": 5, "limit": 2, "offset": 1}
    assert _ids(everything) == [history["api_ok"].pk, history["api_failed"].pk]
    assert len(_ids(api.get("/api/deployments?status=failed,success"))) == 5


def test_a_viewer_sees_only_the_environments_they_belong_to(viewer: Any, history: dict[str, Any]) -> None:
    seen = _ids(_as(viewer).get("/api/deployments?status=failed"))
    assert history["far_failed"].pk not in seen and len(seen) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=building", "status"), ("limit=101", "limit"), ("offset=-1", "offset"), ("stackId=web", "stackId")],
)
def test_a_bad_parameter_is_a_400_naming_it(api: APIClient, query: str, field: str) -> None:
    answer = api.get(f"/api/deployments?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"{field}: ") and answer.json()["code"] == "validation_error"


def test_an_admin_deletes_a_deployment_kept_in_the_audit_log(env_admin: Any, history: dict[str, Any]) -> None:
    failed = history["web_failed"]
    DeploymentLine.objects.create(deployment=failed, seq=1, text="Pulling")
    retry = _done(history["web"], "failed", retry_of=failed, rollback_to=failed)
    admin_client = _as(env_admin)
    answer = admin_client.delete(f"/api/deployments/{failed.pk}")
    assert answer.status_code == 204, answer.content
    assert admin_client.get(f"/api/deployments/{failed.pk}").status_code == 404
    assert failed.pk not in _ids(admin_client.get("/api/deployments"))
    assert not DeploymentLine.objects.filter(deployment_id=failed.pk).exists()
    retry.refresh_from_db()  # what named it stays, without the link
    assert retry.retry_of_id is None and retry.rollback_to_id is None
    event = AuditEvent.objects.get(action="deployment.delete")
    assert event.object.startswith(f"deployment:{failed.pk} ") and f"#{failed.number} of web (failed" in event.detail
    assert event.actor == "user:envadmin" and event.environment_id == local_environment().pk


def test_only_admins_delete(deployer: Any, viewer: Any, outsider: Any, history: dict[str, Any]) -> None:
    url = f"/api/deployments/{history['web_failed'].pk}"
    for member in (deployer, viewer):
        answer = _as(member).delete(url)
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    answer = _as(outsider).delete(url)
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert Deployment.objects.filter(pk=history["web_failed"].pk).exists()


def test_a_running_deployment_is_not_deleted(api: APIClient, history: dict[str, Any]) -> None:
    running = Deployment.objects.create(stack=history["api"], trigger="api")
    running.start()
    GitStack.objects.filter(pk=history["api"].pk).update(lock_owner=running.pk, lock_expires=timezone.now())
    answer = api.delete(f"/api/deployments/{running.pk}")
    assert answer.status_code == 409 and answer.json()["code"] == "deployment_active"
    assert "cancel it first" in answer.json()["error"]
    assert Deployment.objects.filter(pk=running.pk).exists()


def test_the_deployment_that_applied_what_runs_is_kept(api: APIClient, history: dict[str, Any]) -> None:
    answer = api.delete(f"/api/deployments/{history['applied'].pk}")
    assert answer.status_code == 409 and answer.json()["code"] == "deployment_applied"
    assert Deployment.objects.filter(pk=history["applied"].pk).exists()


def test_a_deleted_deployments_number_is_not_given_again(api: APIClient, history: dict[str, Any]) -> None:
    newest = history["api_ok"]
    history["api"].record(last_commit="c" * 40)  # (so the newest is not the applied one)
    Deployment.objects.filter(pk=newest.pk).update(deployed=False)
    assert api.delete(f"/api/deployments/{newest.pk}").status_code == 204
    following = Deployment.objects.create(stack=history["api"], trigger="api")
    assert following.number == newest.number + 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_stacks_failed_syncs_are_listed_together_and_one_is_deleted(
    api: APIClient, git_server: Any, make_stack: Any
) -> None:
    broken = git_server.create_repo(
        f"broken-{uuid.uuid4().hex[:8]}", {"compose.yaml": "services:\n  app:\n    image: [not, an, image]\n"}
    )
    stacks = [make_stack(broken, envFilePath="") for _ in range(2)]
    failed = []
    for stack in stacks:
        answer = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
        assert answer.status_code == 500 and answer.json()["code"] == "deploy_failed", answer.content
        failed.append(answer.json()["deploymentId"])

    listed = api.get("/api/deployments?status=failed").json()
    assert [(d["id"], d["stackId"]) for d in listed["data"]] == [
        (failed[1], stacks[1]["id"]),
        (failed[0], stacks[0]["id"]),
    ]
    assert listed["meta"]["total"] == 2

    assert api.delete(f"/api/deployments/{failed[0]}").status_code == 204
    assert [d["id"] for d in api.get("/api/deployments?status=failed").json()["data"]] == [failed[1]]
    assert api.get(f"/api/git/stacks/{stacks[0]['id']}/deployments").json()["meta"]["total"] == 0
    assert AuditEvent.objects.filter(action="deployment.delete", object__startswith=f"deployment:{failed[0]} ").exists()
