"""Every compose project on the engine (Step 16): listed managed or not, started,
stopped, removed by environment admins, and adopted into a git stack without
recreating its containers when the repository's model is what runs. Real engine, real
git server."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from dockhand.models import AuditEvent
from stacks import compose
from stacks.models import Deployment, GitStack
from stacks.services.stacks import local_environment
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SERVICES = """\
services:
  web:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    volumes: [data:/data]
  worker:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      ROLE: "{role}"
volumes:
  data:
"""


def _model(role: str = "worker") -> str:
    return SERVICES.format(image=dockersupport.IMAGE, role=role)


@pytest.fixture
def hand_started(docker_image: str, projects: list[str], tmp_path: Path) -> str:
    """A project started by hand, `docker compose -p <name> up -d`, outside dockhand."""
    name = f"hand-{uuid.uuid4().hex[:8]}"
    projects.append(name)
    (tmp_path / "compose.yaml").write_text(_model())
    subprocess.run(
        [*compose.compose_command(), "-p", name, "-f", str(tmp_path / "compose.yaml"), "up", "-d"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    return name


def _ids(name: str) -> dict[str, str]:
    return {c["Names"]: c["ID"] for c in dockersupport.containers(name)}


def _volumes(name: str) -> list[str]:
    listed = ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={name}"]
    return subprocess.run(listed, capture_output=True, text=True, check=True).stdout.split()


def _listed(client: APIClient, name: str) -> dict[str, Any]:
    answer = client.get(f"/api/projects?all=true&environmentId={local_environment().pk}")
    assert answer.status_code == 200, answer.content
    return next(p for p in answer.json() if p["name"] == name)


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _adopt(api: APIClient, name: str, repo: Any, credential: dict[str, Any]) -> Any:
    body = {"url": repo.url, "credentialId": credential["id"], "branch": repo.branch, "composePath": "compose.yaml"}
    return api.post(f"/api/projects/{name}/adopt", body, format="json")


def test_a_hand_started_project_is_adopted_without_a_restart(
    api: APIClient, hand_started: str, git_server: Any, token_credential: dict[str, Any]
) -> None:
    listed = _listed(api, hand_started)
    assert listed["managed"] is False and listed["stackId"] is None and listed["status"] == "running"
    assert [(s["name"], s["running"], s["total"]) for s in listed["services"]] == [("web", 1, 1), ("worker", 1, 1)]
    before = _ids(hand_started)
    repo = git_server.create_repo(f"adopt-{uuid.uuid4().hex[:8]}", {"compose.yaml": _model()})
    repository = api.post(
        "/api/git/repositories", {"url": repo.url, "credentialId": token_credential["id"]}, format="json"
    )
    assert repository.status_code == 201, repository.content

    # A repository dockhand knows already, by its id (the other tests give a URL).
    body = {"repositoryId": repository.json()["id"], "composePath": "compose.yaml"}
    answer = api.post(f"/api/projects/{hand_started}/adopt", body, format="json")

    assert answer.status_code == 201, answer.content
    adopted = answer.json()
    assert adopted["matched"] is True and adopted["reasons"] == [] and adopted["commit"] == repo.head()
    assert _ids(hand_started) == before  # the same containers: nothing recreated
    assert api.get(f"/api/git/stacks/{adopted['stackId']}").json()["repositoryId"] == repository.json()["id"]
    status = api.get(f"/api/git/stacks/{adopted['stackId']}/status").json()
    assert status["syncState"] == "Synced" and status["health"] == "Healthy", status
    assert status["deployedCommit"] == repo.head()
    history = Deployment.objects.get(pk=adopted["deploymentId"])
    assert history.trigger == "adopt" and history.status == "success" and history.deployed
    assert _listed(api, hand_started)["managed"] is True
    # The stack is in step: a sync finds nothing to do, and still recreates nothing.
    synced = api.post(f"/api/git/stacks/{adopted['stackId']}/sync", {}, format="json")
    assert synced.status_code == 200 and synced.json()["deployed"] is False, synced.content
    assert _ids(hand_started) == before
    assert AuditEvent.objects.filter(action="project.adopt").exists()


def test_a_project_that_is_not_the_repositorys_model_is_adopted_out_of_sync(
    api: APIClient, hand_started: str, git_server: Any, token_credential: dict[str, Any]
) -> None:
    before = _ids(hand_started)
    repo = git_server.create_repo(f"adopt-{uuid.uuid4().hex[:8]}", {"compose.yaml": _model(role="changed")})

    adopted = _adopt(api, hand_started, repo, token_credential).json()

    assert adopted["matched"] is False and adopted["syncState"] == "OutOfSync"
    assert adopted["reasons"] == ["service worker runs another configuration than the repository's"]
    assert _ids(hand_started) == before
    status = api.get(f"/api/git/stacks/{adopted['stackId']}/status").json()
    assert status["syncState"] == "OutOfSync" and status["reasons"][0].startswith("adopted as it ran")
    # A sync deploys the repository's model: worker is recreated, web is left alone.
    synced = api.post(f"/api/git/stacks/{adopted['stackId']}/sync", {}, format="json")
    assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.content
    after = _ids(hand_started)
    assert after[f"{hand_started}-web-1"] == before[f"{hand_started}-web-1"]
    assert after[f"{hand_started}-worker-1"] != before[f"{hand_started}-worker-1"]
    assert api.get(f"/api/git/stacks/{adopted['stackId']}/status").json()["syncState"] == "Synced"


def test_adopting_checks_its_input(
    api: APIClient, hand_started: str, git_server: Any, token_credential: dict[str, Any], viewer: Any
) -> None:
    repo = git_server.create_repo(f"adopt-{uuid.uuid4().hex[:8]}", {"compose.yaml": _model()})
    missing = _adopt(api, "no-such-project", repo, token_credential)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong_path = api.post(
        f"/api/projects/{hand_started}/adopt",
        {"url": repo.url, "credentialId": token_credential["id"], "composePath": "nope.yaml"},
        format="json",
    )
    assert wrong_path.status_code == 400 and wrong_path.json()["error"].startswith("composePath"), wrong_path.content
    broken = git_server.create_repo(f"adopt-{uuid.uuid4().hex[:8]}", {"compose.yaml": "services:\n  web: [1]\n"})
    unreadable = _adopt(api, hand_started, broken, token_credential)
    assert unreadable.status_code == 400 and unreadable.json()["error"].startswith("composePath: ")
    assert not GitStack.objects.exists()  # an adopt that fails leaves no stack behind
    refused = _adopt(_as(viewer), hand_started, repo, token_credential)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert _adopt(api, hand_started, repo, token_credential).status_code == 201
    again = _adopt(api, hand_started, repo, token_credential)
    assert again.status_code in (400, 409) and again.json()["code"] in ("project_managed", "validation_error")


def test_admins_stop_start_and_remove_an_unmanaged_project(api: APIClient, hand_started: str, viewer: Any) -> None:
    watcher = _as(viewer)
    assert _listed(watcher, hand_started)["managed"] is False  # viewers see
    refused = watcher.post(f"/api/projects/{hand_started}/stop")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"  # admins act

    assert api.post(f"/api/projects/{hand_started}/stop").status_code == 200
    assert {c["State"] for c in dockersupport.containers(hand_started)} == {"exited"}
    # By name: other tests' projects run beside it, and their "Up 1 second" moves on.
    assert hand_started not in [p["name"] for p in api.get("/api/projects?all=false").json()]
    assert _listed(api, hand_started)["status"] == "exited"
    assert api.post(f"/api/projects/{hand_started}/start").status_code == 200
    assert {c["State"] for c in dockersupport.containers(hand_started)} == {"running"}
    assert api.post(f"/api/projects/{hand_started}/restart").status_code == 200

    assert _volumes(hand_started)
    removed = api.delete(f"/api/projects/{hand_started}?volumes=true")
    assert removed.status_code == 200, removed.content
    assert dockersupport.containers(hand_started) == [] and _volumes(hand_started) == []
    assert api.get(f"/api/projects/{hand_started}").status_code == 404
    assert AuditEvent.objects.filter(action="project.delete", detail__contains=hand_started).exists()


def test_a_managed_project_is_its_stacks(
    api: APIClient, hand_started: str, git_server: Any, token_credential: dict[str, Any]
) -> None:
    repo = git_server.create_repo(f"adopt-{uuid.uuid4().hex[:8]}", {"compose.yaml": _model()})
    stack_id = _adopt(api, hand_started, repo, token_credential).json()["stackId"]
    refused = api.delete(f"/api/projects/{hand_started}")
    assert refused.status_code == 409 and refused.json()["code"] == "project_managed"
    assert f"/api/git/stacks/{stack_id}" in refused.json()["error"]
    # Stopping it is the stack's own stop: recorded on the stack, so syncs leave it stopped.
    assert api.post(f"/api/projects/{hand_started}/stop").status_code == 200
    assert api.get(f"/api/git/stacks/{stack_id}").json()["stoppedByUser"] is True


def test_a_bad_name_or_parameter_is_a_400(api: APIClient) -> None:
    assert api.get("/api/projects/Not_A..Name").status_code == 400
    assert api.get("/api/projects?all=maybe").json()["error"].startswith("all:")
