"""Environment protection (none / restricted / locked) and approval-required deploys,
through the API, the pages, webhooks and schedules alike."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dockhand.models import AuditEvent
from stacks.models import Deployment, GitStack
from stacks.services.schedules import stack_sync_scheduled
from tests.conftest import container_name
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db
UNREACHABLE = "http://127.0.0.1:9/shop.git"


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _protect(api: APIClient, **fields: Any) -> None:
    local = api.get("/api/environments").json()[0]
    response = api.put(f"/api/environments/{local['id']}", fields, format="json")
    assert response.status_code == 200, response.content
    for key, value in fields.items():
        assert response.json()[key] == value


@pytest.fixture
def shop(api: APIClient) -> dict[str, Any]:
    """A stack whose remote refuses connections: a sync that is allowed to run ends 502."""
    response = api.post(
        "/api/git/stacks?check=false", {"stackName": "shop", "url": UNREACHABLE, "webhookEnabled": True}, format="json"
    )
    return dict(response.json())


def _sync(client: APIClient, stack: dict[str, Any]) -> Any:
    return client.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")


def test_protection_is_validated_and_shown(api: APIClient) -> None:
    local = api.get("/api/environments").json()[0]
    assert local["protection"] == "none" and local["approvalRequired"] is False
    bad = api.put(f"/api/environments/{local['id']}", {"protection": "frozen"}, format="json")
    assert bad.status_code == 400 and "protection" in bad.json()["fields"]


def test_a_restricted_environment_lets_only_its_admins_and_allowlisted_members_deploy(
    api: APIClient, shop: dict[str, Any], deployer: Any, env_admin: Any
) -> None:
    _protect(api, protection="restricted")
    refused = _sync(_as(deployer), shop)
    assert refused.status_code == 403
    assert refused.json()["error"] == "Environment local is restricted: only its admins and allowlisted members deploy"
    assert Deployment.objects.count() == 0
    assert _sync(_as(env_admin), shop).status_code == 502  # allowed: it ran and met the dead remote
    local = api.get("/api/environments").json()[0]
    added = _as(env_admin).post(
        f"/api/environments/{local['id']}/members",
        {"username": "deployer", "role": "deployer", "allowlisted": True},
        format="json",
    )
    assert added.status_code == 201 and added.json()["allowlisted"] is True
    assert _sync(_as(deployer), shop).status_code == 502


def test_a_locked_environment_is_deployed_only_by_owners(api: APIClient, shop: dict[str, Any], env_admin: Any) -> None:
    _protect(api, protection="locked")
    refused = _sync(_as(env_admin), shop)
    assert refused.status_code == 403
    assert refused.json()["error"] == "Environment local is locked: only an owner deploys to it"
    assert _page(env_admin).post(f"/stacks/{shop['id']}/sync/").status_code == 403
    hook = hooks.Hook(b"{}", {"X-Webhook-Secret": shop["webhookSecret"], "X-Webhook-Delivery": str(uuid.uuid4())})
    ignored = APIClient().post(
        f"/api/git/stacks/{shop['id']}/webhook", data=hook.body, content_type="application/json", **hook.meta()
    )
    assert ignored.status_code == 200
    assert ignored.json() == {"ignored": True, "reason": "Environment local is locked: only an owner deploys to it"}
    GitStack.objects.filter(pk=shop["id"]).update(auto_update=True)
    assert stack_sync_scheduled(stack_id=shop["id"]) == "Environment local is locked: only an owner deploys to it"
    assert AuditEvent.objects.filter(actor="schedule", action="stack.sync_refused").count() == 1
    assert Deployment.objects.count() == 0
    assert _sync(api, shop).status_code == 502  # the owner deploys, locked or not


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_deployers_deploy_waits_for_an_admins_approval(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str, deployer: Any, env_admin: Any
) -> None:
    stack = make_stack(app_repo)
    _protect(api, approvalRequired=True)
    asked = _sync(_as(deployer), stack)
    assert asked.status_code == 202
    assert asked.json() == {
        "deploymentId": asked.json()["deploymentId"],
        "status": "pending_approval",
        "message": "Waiting for an admin of this environment to approve the deploy",
    }
    pending = asked.json()["deploymentId"]
    assert _sync(_as(deployer), stack).json()["deploymentId"] == pending  # asking again joins it
    assert dockersupport.containers(stack["projectName"]) == []  # nothing ran, no lock taken
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None

    refused = _as(deployer).post(f"/api/deployments/{pending}/approve")
    assert refused.status_code == 403
    assert refused.json()["error"] == "Only an admin of this environment approves deploys"
    page = _page(deployer).get(f"/deployments/{pending}/").content.decode()
    assert "Requested by <strong>user:deployer</strong>" in page and 'id="approve"' not in page
    assert 'id="approve"' in _page(env_admin).get(f"/deployments/{pending}/").content.decode()

    approved = _as(env_admin).post(f"/api/deployments/{pending}/approve")
    assert approved.status_code == 202
    done = api.get(f"/api/deployments/{pending}").json()
    assert done["status"] == "success" and done["deployed"] is True
    assert done["requestedBy"] == "user:deployer" and done["reviewedBy"] == "user:envadmin"
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"
    assert _as(env_admin).post(f"/api/deployments/{pending}/approve").status_code == 409
    assert _sync(_as(env_admin), stack).json()["deployed"] is False  # an admin deploys directly


def test_a_rejected_deploy_ends_cancelled_naming_who_rejected_it(
    api: APIClient, admin: Any, app_repo: Any, make_stack: Any, deployer: Any
) -> None:
    shop = make_stack(app_repo)
    _protect(api, approvalRequired=True)
    pending = _sync(_as(deployer), shop).json()["deploymentId"]
    assert _page(deployer).post(f"/deployments/{pending}/reject/", {"reason": "no"}).status_code == 403
    rejecting = _page(admin).post(f"/deployments/{pending}/reject/", {"reason": "not\x1b[2J today"})
    assert rejecting.status_code == 302
    rejected = api.get(f"/api/deployments/{pending}").json()
    assert rejected["status"] == "cancelled"
    assert rejected["error"] == "Rejected by user:admin: not today" and rejected["reviewedBy"] == "user:admin"
    late = api.post(f"/api/deployments/{pending}/approve")
    assert late.status_code == 409 and late.json()["error"] == "This deployment is not waiting for approval"
    again = _sync(_as(deployer), shop).json()
    assert again["status"] == "pending_approval" and again["deploymentId"] != pending


def test_approving_while_another_sync_holds_the_lock_keeps_the_request_waiting(
    api: APIClient, app_repo: Any, make_stack: Any, deployer: Any
) -> None:
    shop = make_stack(app_repo)
    _protect(api, approvalRequired=True)
    pending = _sync(_as(deployer), shop).json()["deploymentId"]
    GitStack.objects.filter(pk=shop["id"]).update(lock_owner=999_999, lock_expires="2999-01-01T00:00:00Z")
    busy = api.post(f"/api/deployments/{pending}/approve")
    assert busy.status_code == 409 and "already syncing" in busy.json()["error"]
    assert Deployment.objects.get(pk=pending).status == "pending_approval"


def test_a_webhook_push_into_an_approval_environment_waits_too(api: APIClient, app_repo: Any, make_stack: Any) -> None:
    shop = make_stack(app_repo, webhookEnabled=True)
    _protect(api, approvalRequired=True)
    hook = hooks.Hook(b"{}", {"X-Webhook-Secret": shop["webhookSecret"], "X-Webhook-Delivery": str(uuid.uuid4())})
    response = APIClient().post(
        f"/api/git/stacks/{shop['id']}/webhook?wait=true",
        data=hook.body,
        content_type="application/json",
        **hook.meta(),
    )
    assert response.status_code == 202
    assert response.json()["status"] == "pending_approval"
    deployment = Deployment.objects.get(pk=response.json()["deploymentId"])
    assert deployment.trigger == "webhook" and deployment.requested_by == "webhook:generic"
    assert deployment.commit_sha == app_repo.head()  # what the approver is asked about


def test_nobody_is_asked_to_approve_a_commit_the_remote_would_not_name(
    api: APIClient, shop: dict[str, Any], deployer: Any
) -> None:
    _protect(api, approvalRequired=True)
    asked = _sync(_as(deployer), shop)
    assert asked.status_code == 502, asked.content
    assert Deployment.objects.count() == 0


def test_members_are_managed_by_the_environments_admins_only(
    api: APIClient, env_admin: Any, deployer: Any, outsider: Any
) -> None:
    local = api.get("/api/environments").json()[0]
    members = f"/api/environments/{local['id']}/members"
    assert _as(outsider).get(members).status_code == 404
    assert _as(outsider).get("/api/environments").json() == []
    assert _as(deployer).get(members).status_code == 403
    listed = _as(env_admin).get(members).json()
    assert [(m["username"], m["role"]) for m in listed] == [("deployer", "deployer"), ("envadmin", "admin")]
    unknown = _as(env_admin).post(members, {"username": "nobody", "role": "viewer"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"] == "username: no user named 'nobody'"
    bad_role = _as(env_admin).post(members, {"username": "outsider", "role": "owner"}, format="json")
    assert bad_role.status_code == 400 and "role" in bad_role.json()["fields"]
    assert _as(env_admin).post(members, {"username": "outsider", "role": "viewer"}, format="json").status_code == 201
    assert _as(outsider).get("/api/environments").json()[0]["name"] == "local"
    assert _as(env_admin).delete(f"{members}/{outsider.pk}").status_code == 204
    assert _as(outsider).get("/api/environments").json() == []
    assert AuditEvent.objects.filter(action="membership.delete", actor="user:envadmin").count() == 1
