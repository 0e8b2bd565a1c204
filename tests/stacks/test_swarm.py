"""A Docker Swarm environment: a single-node swarm (`docker swarm init` on a second
engine the test starts) receives a stack with `docker stack deploy`, a new commit
updates the service, rollback restores it; services and replicas are shown instead
of containers, and down removes the stack."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.conftest import SECRET_VALUE, compose_file, need
from tests.support import second_engine
from tests.support.second_engine import SecondEngine

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def swarm_engine(docker_image: str) -> Iterator[SecondEngine]:
    need("a second dockerd (root, dockerd, ip)", second_engine.available())
    with second_engine.one_swarm():
        started = SecondEngine()
        started.swarm_init()
        yield started
        started.stop()


def _service_env(engine: SecondEngine, service: str) -> dict[str, str]:
    found = engine.docker("service", "inspect", service, "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}")
    assert found.returncode == 0, found.stderr
    return dict(item.split("=", 1) for item in json.loads(found.stdout) or [])


def _running_version(engine: SecondEngine, service: str, timeout: float = 60) -> str:
    """The VERSION a running task of the service has (after an update converges)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = engine.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}").stdout.split()
        if len(ids) == 1:
            env = engine.docker("inspect", ids[0], "--format", "{{json .Config.Env}}").stdout
            return dict(item.split("=", 1) for item in json.loads(env))["VERSION"]
        time.sleep(0.5)
    raise AssertionError(f"no single running task of {service}")


def test_a_swarm_stack_deploys_updates_and_rolls_back(
    api: Any, admin: Any, app_repo: Any, make_stack: Any, swarm_engine: SecondEngine
) -> None:
    created = api.post(
        "/api/environments", {"name": "swarm", "dockerHost": swarm_engine.socket, "swarm": True}, format="json"
    )
    assert created.status_code == 201 and created.json()["swarm"] is True
    stack = make_stack(app_repo, environmentId=created.json()["id"])
    service = f"{stack['projectName']}_app"

    first = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert first["deployed"] is True, first
    assert "Creating service" in first["output"] and "swarm service(s) to run their replicas" in first["output"]
    assert _service_env(swarm_engine, service)["VERSION"] == "1"
    assert _service_env(swarm_engine, service)["PLAIN"] == "plain-override"  # the same env merge as compose
    assert SECRET_VALUE not in first["output"]

    shown = api.get(f"/api/git/stacks/{stack['id']}/containers").json()
    assert [(s["name"], s["replicas"]) for s in shown] == [(service, "1/1")]
    state = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert (state["syncState"], state["health"]) == ("Synced", "Healthy")
    page = Client()
    page.force_login(admin)
    assert 'id="services"' in page.get(f"/stacks/{stack['id']}/").content.decode()

    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    second = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert second["deployed"] is True and "Updating service" in second["output"], second
    assert _service_env(swarm_engine, service)["VERSION"] == "2"
    assert _running_version(swarm_engine, service) == "2"

    rolled = api.post(f"/api/git/stacks/{stack['id']}/rollback", {"deploymentId": first["deploymentId"]}, format="json")
    assert rolled.status_code in (200, 202), rolled.content
    deadline = time.monotonic() + 120
    while _service_env(swarm_engine, service)["VERSION"] != "1" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _service_env(swarm_engine, service)["VERSION"] == "1"
    assert _running_version(swarm_engine, service) == "1"

    refused = api.post(f"/api/git/stacks/{stack['id']}/stop")
    assert refused.status_code == 409 and "swarm" in refused.json()["error"]
    down = api.post(f"/api/git/stacks/{stack['id']}/down")
    assert down.status_code == 200, down.content
    deadline = time.monotonic() + 30
    while swarm_engine.docker("service", "ls", "-q").stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert swarm_engine.docker("service", "ls", "-q").stdout.strip() == ""
