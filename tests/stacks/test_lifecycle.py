"""Deployment lifecycle on the real engine and git server: rollback and auto-sync pause,
stop/start/down that stay so, containers, health-gated deploys with autoRollback,
Synced/OutOfSync, and the compose options."""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from stacks.models import Deployment, GitStack
from stacks.services.runner import STOPPED_NOTE
from stacks.services.schedules import stack_sync_scheduled
from stacks.services.sync import PAUSED_MESSAGE
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db


def _sync(api: APIClient, stack: dict[str, Any], **body: Any) -> Any:
    return api.post(f"/api/git/stacks/{stack['id']}/sync", body, format="json")


def _version(stack: dict[str, Any], service: str = "app") -> str:
    return dockersupport.container_env(container_name(stack, service))["VERSION"]


def _push_webhook(stack: dict[str, Any]) -> Any:
    hook = hooks.Hook(b"{}", {"X-Webhook-Secret": stack["webhookSecret"], "X-Webhook-Delivery": str(uuid.uuid4())})
    return APIClient().post(
        f"/api/git/stacks/{stack['id']}/webhook", data=hook.body, content_type="application/json", **hook.meta()
    )


@pytest.fixture
def two_versions(api: APIClient, app_repo: Any, make_stack: Any, docker_image: str) -> dict[str, Any]:
    """Deployed at version 1, then at version 2."""
    stack = make_stack(app_repo, webhookEnabled=True)
    assert _sync(api, stack).json()["deployed"] is True
    stack["first"] = app_repo.head()
    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    assert _sync(api, stack).json()["deployed"] is True
    return stack


def test_a_rollback_redeploys_the_previous_commit_and_pauses_auto_sync(
    api: APIClient, app_repo: Any, two_versions: dict[str, Any]
) -> None:
    stack = two_versions
    first_deploy = Deployment.objects.filter(stack_id=stack["id"]).order_by("id").first()
    assert first_deploy is not None
    response = api.post(f"/api/git/stacks/{stack['id']}/rollback", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["deployed"] is True and response.json()["commit"] == stack["first"]
    assert _version(stack) == "1"
    rollback = api.get(f"/api/deployments/{response.json()['deploymentId']}").json()
    assert rollback["trigger"] == "rollback" and rollback["targetCommit"] == stack["first"]
    assert rollback["rollbackTo"] == first_deploy.pk
    # What it ran: plain values as they are, secrets only as keyed fingerprints, images.
    assert rollback["envSnapshot"]["PLAIN"] == "plain-override"
    assert rollback["envSnapshot"]["SECRET"].startswith("hmac-sha256:")
    assert rollback["images"][0]["service"] == "app" and rollback["images"][0]["imageId"].startswith("sha256:")
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert shown["autoSyncPaused"] is True and shown["lastCommit"] == stack["first"]

    app_repo.commit({"compose.yaml": compose_file("3")}, "version 3")
    ignored = _push_webhook(stack)
    assert ignored.status_code == 200 and ignored.json() == {"ignored": True, "reason": PAUSED_MESSAGE}
    GitStack.objects.filter(pk=stack["id"]).update(auto_update=True)
    assert stack_sync_scheduled(stack_id=stack["id"]) == PAUSED_MESSAGE
    assert _version(stack) == "1"

    resumed = api.put(f"/api/git/stacks/{stack['id']}", {"autoSyncPaused": False}, format="json")
    assert resumed.status_code == 200 and resumed.json()["autoSyncPaused"] is False
    assert _push_webhook(stack).status_code == 202
    assert _version(stack) == "3"


def test_rolling_back_needs_something_to_roll_back_to(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    nothing = api.post(f"/api/git/stacks/{stack['id']}/rollback", {}, format="json")
    assert nothing.status_code == 409
    assert nothing.json()["error"] == "Nothing to roll back to: no earlier successful deployment of another commit"
    wrong = api.post(f"/api/git/stacks/{stack['id']}/rollback", {"deploymentId": 987654}, format="json")
    assert wrong.status_code == 400 and "deploymentId" in wrong.json()["fields"]
    assert api.post(f"/api/git/stacks/{stack['id']}/rollback", {"deploymentId": "x"}, format="json").status_code == 400
    assert GitStack.objects.get(pk=stack["id"]).auto_sync_paused is False


def test_a_stopped_stack_stays_stopped_until_it_is_started(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo, webhookEnabled=True)
    assert _sync(api, stack).json()["deployed"] is True
    stopped = api.post(f"/api/git/stacks/{stack['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["stoppedByUser"] is True
    assert dockersupport.inspect(container_name(stack))["State"]["Running"] is False  # type: ignore[index]

    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    webhook = _push_webhook(stack)
    assert webhook.status_code == 202
    skipped = Deployment.objects.get(pk=webhook.json()["deploymentId"])
    assert skipped.status == "skipped" and skipped.note == STOPPED_NOTE
    by_api = _sync(api, stack)
    assert by_api.json()["deployed"] is False and by_api.json()["message"] == STOPPED_NOTE
    assert dockersupport.inspect(container_name(stack))["State"]["Running"] is False  # type: ignore[index]

    assert api.post(f"/api/git/stacks/{stack['id']}/start").json()["stoppedByUser"] is False
    containers = api.get(f"/api/git/stacks/{stack['id']}/containers").json()
    assert [(c["service"], c["state"], c["name"]) for c in containers] == [("app", "running", container_name(stack))]
    assert set(containers[0]) == {"id", "name", "service", "image", "state", "status", "health", "ports"}
    assert _sync(api, stack).json()["deployed"] is True and _version(stack) == "2"


def test_down_removes_the_containers_and_start_redeploys(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    assert api.post(f"/api/git/stacks/{stack['id']}/down?volumes=true").status_code == 200
    assert dockersupport.containers(stack["projectName"]) == []
    assert api.post(f"/api/git/stacks/{stack['id']}/down?volumes=maybe").status_code == 400
    assert _sync(api, stack, force=True).json()["message"] == STOPPED_NOTE
    started = api.post(f"/api/git/stacks/{stack['id']}/start")
    assert started.status_code == 200 and "redeploys" in started.json()["output"]
    assert _version(stack) == "1"


HEALTHCHECKED = """\
services:
  app:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      VERSION: "{version}"
    healthcheck:
      test: ["CMD", "{check}"]
      interval: 1s
      timeout: 1s
      retries: 1
"""


def test_an_unhealthy_deploy_fails_naming_the_service_and_auto_rollback_restores_the_last_good(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    app_repo.commit({"compose.yaml": HEALTHCHECKED.format(image=docker_image, version="1", check="true")}, "healthy")
    stack = make_stack(app_repo, healthTimeout=30, autoRollback=True)
    good = _sync(api, stack).json()
    assert good["deployed"] is True and "All services are running and healthy" in good["output"]
    app_repo.commit({"compose.yaml": HEALTHCHECKED.format(image=docker_image, version="2", check="false")}, "broken")

    failed = _sync(api, stack)
    assert failed.status_code == 500
    assert failed.json()["error"] == "Not healthy after the deploy: app (unhealthy)"
    rollback = Deployment.objects.filter(stack_id=stack["id"], trigger="rollback").get()
    assert rollback.status == "success" and rollback.commit_sha == good["commit"]
    assert f"autoRollback: deployment #{rollback.number}" in failed.json()["output"]
    assert _version(stack) == "1"
    assert GitStack.objects.get(pk=stack["id"]).auto_sync_paused is True


def test_a_hand_edit_or_a_new_commit_is_out_of_sync_until_the_next_sync(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["syncState"] == "Unknown"
    assert _sync(api, stack).json()["deployed"] is True
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert (shown["syncState"], shown["health"]) == ("Synced", "Healthy")

    # Someone runs compose by hand on the host with another environment.
    workdir = settings.STACKS_DIR / str(stack["id"]) / "repo"
    subprocess.run(
        ["docker", "compose", "-p", stack["projectName"], "-f", str(workdir / "compose.yaml"), "up", "-d"],
        env={**os.environ, "PLAIN": "changed-by-hand"},
        check=True,
        capture_output=True,
    )
    status = api.get(f"/api/git/stacks/{stack['id']}/status").json()
    assert status["syncState"] == "OutOfSync" and status["reasons"] == ["container app changed by hand"]
    assert _sync(api, stack, force=True).json()["deployed"] is True
    assert api.get(f"/api/git/stacks/{stack['id']}/status").json()["syncState"] == "Synced"

    new = app_repo.commit({"README.md": "moved on\n"}, "docs")
    status = api.get(f"/api/git/stacks/{stack['id']}/status").json()
    assert status["syncState"] == "OutOfSync" and status["branchHead"] == new
    subprocess.run(["docker", "stop", "-t", "1", container_name(stack)], check=True, capture_output=True)
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["health"] == "Degraded"


def test_two_compose_files_and_a_profile_run_the_right_services(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    extra = f"""\
services:
  worker:
    image: {docker_image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      VERSION: "worker"
  debug:
    image: {docker_image}
    pull_policy: never
    profiles: ["debug"]
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      VERSION: "debug"
  admin:
    image: {docker_image}
    pull_policy: never
    profiles: ["admin"]
    command: ["sh", "-c", "sleep 3600"]
"""
    app_repo.commit({"compose.extra.yaml": extra}, "extra services")
    stack = make_stack(app_repo, additionalComposeFiles=["compose.extra.yaml"], profiles=["debug"], forceRecreate=True)
    assert _sync(api, stack).json()["deployed"] is True
    running = sorted(c["service"] for c in api.get(f"/api/git/stacks/{stack['id']}/containers").json())
    assert running == ["app", "debug", "worker"]
    assert _version(stack, "worker") == "worker"


BUILT = """\
services:
  app:
    build: .
    image: {image}
    pull_policy: build
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
"""


def _stamp(stack: dict[str, Any]) -> str:
    done = subprocess.run(
        ["docker", "exec", container_name(stack), "cat", "/stamp"], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def built_image() -> Any:
    image = f"dockhand-test/built-{uuid.uuid4().hex[:8]}:latest"
    yield image
    subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True)


def test_build_on_deploy_rebuilds_and_no_build_cache_reruns_every_step(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str, built_image: str
) -> None:
    dockerfile = f"FROM {docker_image}\nRUN echo {{label}} > /label && date +%s%N > /stamp\n"
    app_repo.commit(
        {"compose.yaml": BUILT.format(image=built_image), "Dockerfile": dockerfile.format(label="one")}, "built"
    )
    stack = make_stack(app_repo, buildOnDeploy=True, forceRecreate=True)
    assert _sync(api, stack).json()["deployed"] is True
    first = _stamp(stack)

    # Without --no-cache an unchanged Dockerfile is served from the build cache ...
    app_repo.commit({"README.md": "docs only\n"}, "docs")
    assert _sync(api, stack).json()["deployed"] is True
    assert _stamp(stack) == first
    # ... a changed one is rebuilt, because buildOnDeploy passes --build ...
    app_repo.commit({"Dockerfile": dockerfile.format(label="two")}, "new label")
    assert _sync(api, stack).json()["deployed"] is True
    label = subprocess.run(["docker", "exec", container_name(stack), "cat", "/label"], capture_output=True, text=True)
    assert label.stdout.strip() == "two"
    second = _stamp(stack)
    # ... and with noBuildCache every step runs again even when nothing changed.
    assert api.put(f"/api/git/stacks/{stack['id']}", {"noBuildCache": True}, format="json").status_code == 200
    app_repo.commit({"README.md": "docs again\n"}, "docs")
    last = _sync(api, stack).json()
    assert last["deployed"] is True, last
    assert _stamp(stack) not in (first, second)


def test_pull_policy_always_pulls_and_never_does_not(
    api: APIClient, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    # No registry is reachable here: "always" must try one (and fail saying so) even
    # though the image is local and the service says pull_policy: never.
    stack = make_stack(app_repo, pullPolicy="always")
    failed = _sync(api, stack)
    assert failed.status_code == 500 and "Pulling" in failed.json()["output"]
    assert "registry-1.docker.io" in failed.json()["error"]

    # "never" with an image nobody built fails at once, without a pull.
    absent = 'services:\n  app:\n    image: dockhand-test/absent:1\n    command: ["sleep", "3600"]\n'
    app_repo.commit({"compose.yaml": absent}, "absent image")
    assert api.put(f"/api/git/stacks/{stack['id']}", {"pullPolicy": "never"}, format="json").status_code == 200
    refused = _sync(api, stack)
    assert refused.status_code == 500 and "No such image: dockhand-test/absent:1" in refused.json()["error"]
    assert "Pulling" not in refused.json()["output"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("additionalComposeFiles", ["../outside.yaml"]),
        ("additionalComposeFiles", ["/etc/passwd"]),
        ("profiles", ["--privileged"]),
        ("pullPolicy", "sometimes"),
        ("healthTimeout", -1),
        ("composeTimeout", 1),
    ],
)
def test_bad_compose_options_are_refused_naming_the_field(api: APIClient, field: str, value: Any) -> None:
    response = api.post(
        "/api/git/stacks", {"stackName": "opts", "url": "https://git.example.test/o.git", field: value}, format="json"
    )
    assert response.status_code == 400 and field in response.json()["fields"]


def test_the_stack_page_rolls_back_resumes_stops_and_starts(
    api: APIClient, admin: Any, two_versions: dict[str, Any]
) -> None:
    stack = two_versions
    page = Client()
    page.force_login(admin)
    detail = page.get(f"/stacks/{stack['id']}/").content.decode()
    assert 'data-status="Synced"' in detail and 'data-status="Healthy"' in detail and 'id="containers"' in detail
    first = Deployment.objects.filter(stack_id=stack["id"]).order_by("id").first()
    assert first is not None and f'data-rollback="{first.pk}"' in detail

    rolled = page.post(f"/stacks/{stack['id']}/rollback/", {"deployment": first.pk})
    assert rolled.status_code == 302 and _version(stack) == "1"
    shown = page.get(rolled["Location"]).content.decode()
    assert "Rolling back to" in shown and 'id="ran"' in shown and "hmac-sha256:" in shown
    assert "s3cr3t-Value-9d41" not in shown
    assert 'id="paused"' in page.get(f"/stacks/{stack['id']}/").content.decode()
    assert page.post(f"/stacks/{stack['id']}/resume/").status_code == 302
    assert GitStack.objects.get(pk=stack["id"]).auto_sync_paused is False

    assert page.post(f"/stacks/{stack['id']}/stop/").status_code == 302
    assert 'id="stopped"' in page.get(f"/stacks/{stack['id']}/").content.decode()
    assert page.post(f"/stacks/{stack['id']}/start/").status_code == 302
    assert dockersupport.inspect(container_name(stack))["State"]["Running"] is True  # type: ignore[index]

    queued = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    assert page.post(f"/deployments/{queued.pk}/cancel/").status_code == 302
    queued.refresh_from_db()
    assert queued.status == "cancelled" and queued.error == "Cancelled by user:admin"
    # Asked again (a page open since before it ended): back to it, saying it had ended.
    again = page.post(f"/deployments/{queued.pk}/cancel/", follow=True)
    assert again.redirect_chain == [(f"/deployments/{queued.pk}/", 302)]
    assert "had already ended: cancelled." in again.content.decode()


def test_the_diff_shows_the_files_and_services_a_sync_would_change(
    api: APIClient, admin: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert api.get(f"/api/git/stacks/{stack['id']}/diff").status_code == 409  # nothing checked out yet
    deployed = _sync(api, stack).json()["commit"]
    same = api.get(f"/api/git/stacks/{stack['id']}/diff").json()
    assert same["from"] == same["to"] == deployed and same["files"] == [] and same["services"] == []
    head = app_repo.commit({"README.md": None, "notes.txt": "new\n"}, "docs only")
    docs = api.get(f"/api/git/stacks/{stack['id']}/diff").json()
    assert docs["to"] == head and docs["commitMessage"] == "docs only"
    # Listed; no line diff: neither is a compose or env file.
    assert docs["files"] == [
        {"status": "D", "path": "README.md", "diff": None},
        {"status": "A", "path": "notes.txt", "diff": None},
    ]
    # GIT_COMMIT_SHA reaches the app service's environment: a new commit changes it.
    assert docs["services"] == ["app"] and docs["servicesError"] is None
    assert _version(stack) == "1"  # nothing was deployed or checked out by looking
    page = Client()
    page.force_login(admin)
    shown = page.get(f"/stacks/{stack['id']}/diff/").content.decode()
    assert "notes.txt" in shown and "<li>app</li>" in shown
    assert GitStack.objects.get(pk=stack["id"]).last_commit == deployed


def test_deleting_a_stack_keeps_its_history_unless_asked(
    api: APIClient, admin: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    kept = make_stack(app_repo)
    deployed = _sync(api, kept).json()["deploymentId"]
    assert api.delete(f"/api/git/stacks/{kept['id']}").status_code == 200
    assert dockersupport.containers(kept["projectName"]) == []  # containers removed by default
    history = api.get(f"/api/deployments/{deployed}").json()
    assert history["status"] == "success" and history["stackId"] is None
    assert Deployment.objects.get(pk=deployed).stack_name == kept["stackName"]
    page = Client()
    page.force_login(admin)
    assert f"{kept['stackName']} (deleted)" in page.get(f"/deployments/{deployed}/").content.decode()
    assert api.post(f"/api/deployments/{deployed}/cancel").status_code == 409

    gone = make_stack(app_repo)
    removed = _sync(api, gone).json()["deploymentId"]
    response = api.delete(f"/api/git/stacks/{gone['id']}?removeHistory=true&removeContainers=false")
    assert response.status_code == 200
    assert api.get(f"/api/deployments/{removed}").status_code == 404
    assert dockersupport.containers(gone["projectName"]) != []  # asked to keep them running
    third = make_stack(app_repo)
    vague = api.delete(f"/api/git/stacks/{third['id']}?removeHistory=perhaps")
    assert vague.status_code == 400 and "removeHistory" in vague.json()["error"]
    assert GitStack.objects.filter(pk=third["id"]).exists()
