"""A swarm stack's services by hand (Step 16): scale a service to 3, restart it, run a
job service (`deploy.mode: replicated-job`) again, each waiting for the swarm with
`?wait=true`; on the single-node swarm of test_swarm.py's second engine."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from dockhand.models import AuditEvent
from gitsync.models import Repository
from stacks.models import GitStack
from stacks.services.stacks import local_environment
from tests.stacks.test_swarm import swarm_engine  # noqa: F401  (the fixture)
from tests.support import docker as dockersupport
from tests.support.second_engine import SecondEngine

pytestmark = pytest.mark.django_db

SERVICES = """\
services:
  web:
    image: {image}
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
  migrate:
    image: {image}
    command: ["sh", "-c", "echo migrated"]
    deploy:
      mode: replicated-job
  broken:
    image: {image}
    command: ["sh", "-c", "exit 3"]
    deploy:
      mode: replicated-job
      restart_policy:
        condition: none
"""


def _tasks(engine: SecondEngine, service: str) -> list[dict[str, Any]]:
    found = engine.docker("service", "ps", service, "--format", "{{json .}}")
    assert found.returncode == 0, found.stderr
    return [json.loads(line) for line in found.stdout.splitlines() if line.strip()]


def _replicas(engine: SecondEngine, service: str) -> int:
    found = engine.docker("service", "inspect", service, "--format", "{{json .Spec.Mode.Replicated.Replicas}}")
    return int(found.stdout)


@pytest.fixture
def swarm_stack(api: Any, git_server: Any, make_stack: Any, swarm_engine: SecondEngine) -> Any:  # noqa: F811
    environment = api.post(
        "/api/environments", {"name": "swarm", "dockerHost": swarm_engine.socket, "swarm": True}, format="json"
    ).json()
    repo = git_server.create_repo(
        f"swarm-jobs-{uuid.uuid4().hex[:8]}", {"compose.yaml": SERVICES.format(image=dockersupport.IMAGE)}
    )
    stack = make_stack(repo, environmentId=environment["id"], envFilePath="")
    deployed = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert deployed["deployed"] is True, deployed
    yield stack
    api.post(f"/api/git/stacks/{stack['id']}/down")


# One deploy for both halves: a second stack's overlay network, made right after the
# first one's was removed, takes its VXLAN id again while the old device may still exist
# ("error creating vxlan interface: file exists"), and CI time is a deploy shorter.
def test_a_service_is_scaled_to_3_restarted_and_a_job_run_and_wrong_requests_say_so(
    api: Any,
    swarm_stack: Any,
    swarm_engine: SecondEngine,  # noqa: F811
) -> None:
    url, web = f"/api/git/stacks/{swarm_stack['id']}", f"{swarm_stack['projectName']}_web"

    scaled = api.post(f"{url}/scale?wait=true", {"service": "web", "replicas": 3}, format="json")

    assert scaled.status_code == 200, scaled.content
    assert scaled.json()["services"] == [
        {"service": "web", "name": web, "done": True, "detail": "3/3 running", "error": None}
    ]
    assert _replicas(swarm_engine, web) == 3
    assert sum(t["CurrentState"].startswith("Running") for t in _tasks(swarm_engine, web)) == 3

    before = {t["ID"] for t in _tasks(swarm_engine, web) if t["DesiredState"] == "Running"}
    restarted = api.post(f"{url}/restart?wait=true", {"service": "web"}, format="json")
    assert restarted.status_code == 200 and restarted.json()["services"][0]["done"] is True, restarted.content
    after = {t["ID"] for t in _tasks(swarm_engine, web) if t["DesiredState"] == "Running"}
    assert len(after) == 3 and not before & after  # every task replaced

    migrate = f"{swarm_stack['projectName']}_migrate"
    runs = len(_tasks(swarm_engine, migrate))
    ran = api.post(f"{url}/run?wait=true", {"service": "migrate"}, format="json")
    assert ran.status_code == 200, ran.content
    assert ran.json()["services"] == [
        {"service": "migrate", "name": migrate, "done": True, "detail": "1/1 complete", "error": None}
    ]
    assert len(_tasks(swarm_engine, migrate)) == runs + 1
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="stack.").order_by("id")][-3:] == [
        "stack.scale",
        "stack.restart_service",
        "stack.run_job",
    ]

    failed = api.post(f"{url}/run?wait=true", {"service": "broken"}, format="json")
    assert failed.status_code == 500 and failed.json()["code"] == "job_failed", failed.content
    assert failed.json()["services"][0]["service"] == "broken"

    unknown = api.post(f"{url}/scale", {"service": "nope", "replicas": 2}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_service"
    assert unknown.json()["error"].startswith("service: ") and "web" in unknown.json()["error"]
    not_a_job = api.post(f"{url}/run", {"service": "web"}, format="json")
    assert not_a_job.status_code == 400 and not_a_job.json()["code"] == "wrong_service_kind"
    bad = api.post(f"{url}/scale", {"service": "web", "replicas": "3"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"].startswith("replicas: ")


def test_a_compose_stack_is_no_swarm_stack(api: Any) -> None:
    repository = Repository.objects.create(name="r", url="https://git.example.test/r.git")
    stack = GitStack.objects.create(name="s", environment=local_environment(), repository=repository, project_name="s")
    for action, body in (("scale", {"replicas": 2}), ("run", {}), ("restart", {"service": "web"})):
        answer = api.post(f"/api/git/stacks/{stack.pk}/{action}", body, format="json")
        assert answer.status_code == 400 and answer.json()["code"] == "not_swarm", (action, answer.content)
