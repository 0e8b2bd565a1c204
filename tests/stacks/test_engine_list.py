"""A stack's containers are read from one engine list call, and read the same as
`docker inspect` says: state, health, exit code, image, published ports."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.api.client import APIClient

from stacks import engine
from tests.support import docker as dockersupport

PROJECT_LABEL, SERVICE_LABEL = "com.docker.compose.project", "com.docker.compose.service"


@pytest.fixture
def project(docker_image: str) -> Iterator[str]:
    name = f"dh-list-{uuid.uuid4().hex[:8]}"
    yield name
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={name}"}):
        c.remove(force=True)


def _run(project: str, service: str, **extra: Any) -> Any:
    labels = {PROJECT_LABEL: project, SERVICE_LABEL: service, "com.docker.compose.config-hash": f"h-{service}"}
    return docker.from_env().containers.run(
        dockersupport.IMAGE, name=f"{project}-{service}-1", labels=labels, detach=True, **extra
    )


def test_listed_containers_read_as_inspect_says_in_one_engine_call(project: str, monkeypatch: Any) -> None:
    web = _run(
        project,
        "web",
        command=["sleep", "600"],
        ports={"80/tcp": ("127.0.0.1", None), "81/udp": None},  # one on loopback, one everywhere
        healthcheck={"test": ["CMD", "true"], "interval": 200_000_000, "start_period": 0},
    )
    job = _run(project, "job", command=["sh", "-c", "exit 3"])
    job.wait(timeout=30)
    deadline = time.monotonic() + 30
    while docker.from_env().containers.get(web.id).attrs["State"]["Health"]["Status"] != "healthy":
        assert time.monotonic() < deadline, "the healthcheck never passed"
        time.sleep(0.2)

    def no_inspect(*args: object, **kwargs: object) -> None:
        raise AssertionError("a container was inspected one by one")

    monkeypatch.setattr(APIClient, "inspect_container", no_inspect)
    found = {c.service: c for c in engine.containers(engine.Endpoint(host=""), [project])}
    monkeypatch.undo()

    inspected: Any = dockersupport.inspect(web.name)
    published = inspected["NetworkSettings"]["Ports"]
    assert found["web"].state == "running" and found["web"].health == "healthy"
    assert found["web"].ports == [
        f"{b['HostIp'] or '*'}:{b['HostPort']}->{inner}" for inner, bound in sorted(published.items()) for b in bound
    ]
    assert found["web"].ports[0].startswith("127.0.0.1:") and len(found["web"].ports) >= 2
    assert found["web"].image == dockersupport.IMAGE and found["web"].image_id == inspected["Image"]
    assert found["web"].name == web.name and found["web"].config_hash == "h-web"
    assert found["job"].state == "exited" and found["job"].exit_code == 3 and found["job"].health == ""
