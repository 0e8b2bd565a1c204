"""An approval is for what the approver was shown (Step 11, item 6): the commit and the
desired-state revision recorded when the deploy was requested. A push after the request,
or a change of the stack's settings, never rides in on someone else's approval."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from stacks.models import Deployment
from stacks.services.runner import CHANGED_SINCE_APPROVAL
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def approval_env(api: APIClient) -> None:
    local = api.get("/api/environments").json()[0]
    assert api.put(f"/api/environments/{local['id']}", {"approvalRequired": True}, format="json").status_code == 200


def _request(deployer: Any, stack: dict[str, Any]) -> int:
    asked = _as(deployer).post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert asked.status_code == 202 and asked.json()["status"] == "pending_approval", asked.content
    return int(asked.json()["deploymentId"])


def test_a_push_after_the_request_is_not_what_gets_approved(
    api: APIClient,
    approval_env: None,
    app_repo: Any,
    make_stack: Any,
    deployer: Any,
    env_admin: Any,
    docker_image: str,
) -> None:
    stack = make_stack(app_repo)
    asked_for = app_repo.head()
    pending = _request(deployer, stack)
    assert api.get(f"/api/deployments/{pending}").json()["commitSha"] == asked_for  # shown to the approver
    later = app_repo.commit({"compose.yaml": compose_file("2")}, "slipped in after the request")

    assert _as(env_admin).post(f"/api/deployments/{pending}/approve").status_code == 202

    done = api.get(f"/api/deployments/{pending}").json()
    assert (done["status"], done["commitSha"]) == ("success", asked_for), done
    assert "as approved by user:envadmin" in done["output"]
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert shown["lastCommit"] == asked_for != later


def test_a_rollback_or_pin_request_is_approved_for_its_own_commit(
    api: APIClient,
    approval_env: None,
    app_repo: Any,
    make_stack: Any,
    deployer: Any,
    env_admin: Any,
    docker_image: str,
) -> None:
    stack = make_stack(app_repo)
    first = app_repo.head()
    app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    asked = _as(deployer).post(f"/api/git/stacks/{stack['id']}/sync", {"commit": first[:10]}, format="json")
    assert asked.status_code == 202, asked.content
    pending = asked.json()["deploymentId"]
    app_repo.commit({"compose.yaml": compose_file("3")}, "v3")

    assert _as(env_admin).post(f"/api/deployments/{pending}/approve").status_code == 202

    assert api.get(f"/api/deployments/{pending}").json()["commitSha"] == first
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"


def test_settings_changed_after_the_request_are_not_deployed_on_its_approval(
    api: APIClient, approval_env: None, app_repo: Any, make_stack: Any, deployer: Any, env_admin: Any
) -> None:
    stack = make_stack(app_repo)
    pending = _request(deployer, stack)
    changed = api.put(
        f"/api/git/stacks/{stack['id']}",
        {"envVars": [{"key": "PLAIN", "value": "changed-after-the-request", "isSecret": False}]},
        format="json",
    )
    assert changed.status_code == 200, changed.content

    assert _as(env_admin).post(f"/api/deployments/{pending}/approve").status_code == 202

    done = api.get(f"/api/deployments/{pending}").json()
    assert (done["status"], done["error"]) == ("failed", CHANGED_SINCE_APPROVAL), done
    assert dockersupport.containers(stack["projectName"]) == []  # nothing started


def test_a_webhook_request_is_approved_for_the_head_it_was_asked_with(
    api: APIClient, approval_env: None, app_repo: Any, make_stack: Any, env_admin: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo, webhookEnabled=True)
    asked_for = app_repo.head()
    hook = hooks.github_push(app_repo, stack["webhookSecret"], before="0" * 40, shas=[asked_for])
    answer = APIClient().post(
        f"/api/git/stacks/{stack['id']}/webhook", data=hook.body, content_type="application/json", **hook.meta()
    )
    assert answer.status_code == 202, answer.content
    (pending,) = Deployment.objects.filter(stack_id=stack["id"], status="pending_approval")
    pushed = app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    again = hooks.github_push(app_repo, stack["webhookSecret"], before=asked_for, shas=[pushed])
    APIClient().post(
        f"/api/git/stacks/{stack['id']}/webhook", data=again.body, content_type="application/json", **again.meta()
    )
    assert Deployment.objects.filter(stack_id=stack["id"]).count() == 1  # the second push joined it

    assert _as(env_admin).post(f"/api/deployments/{pending.pk}/approve").status_code == 202

    pending.refresh_from_db()
    assert (pending.status, pending.commit_sha) == ("success", asked_for)
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"
