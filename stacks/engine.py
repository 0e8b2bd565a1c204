"""Everything dockhand asks the Docker engine directly (docker SDK), behind one module."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.errors import DockerException

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
ONEOFF_LABEL = "com.docker.compose.oneoff"


class EngineError(Exception):
    """The engine could not be reached or refused a request."""


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    service: str
    image: str
    state: str  # created | running | paused | restarting | removing | exited | dead
    project: str = ""
    health: str = ""  # healthy | unhealthy | starting, or "" without a healthcheck
    exit_code: int = 0
    image_id: str = ""
    config_hash: str = ""
    ports: list[str] = field(default_factory=list)


def _client(docker_host: str) -> docker.DockerClient:
    try:
        if docker_host:
            return docker.DockerClient(base_url=docker_host, timeout=10)
        return docker.from_env(timeout=10)
    except DockerException as exc:
        raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc


def ping(docker_host: str) -> str:
    """What the engine runs ("Docker 24.0.7, API 1.43"); EngineError unless it answers."""
    try:
        client = _client(docker_host)
        try:
            found = client.version()
        finally:
            client.close()
    except DockerException as exc:
        raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc
    return f"Docker {found.get('Version', '?')}, API {found.get('ApiVersion', '?')}"


def _ports(attrs: dict[str, Any]) -> list[str]:
    published = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    out = []
    for inner, bindings in sorted(published.items()):
        for b in bindings or []:
            host = b.get("HostIp") or "*"  # published on every interface
            out.append(f"{host}:{b.get('HostPort')}->{inner}")
        if not bindings:
            out.append(inner)
    return out


def _info(c: Any) -> ContainerInfo:
    attrs = c.attrs
    state = attrs.get("State") or {}
    labels = c.labels or {}
    return ContainerInfo(
        id=c.id or "",
        name=c.name or "",
        service=labels.get(SERVICE_LABEL, ""),
        image=(attrs.get("Config") or {}).get("Image", ""),
        state=state.get("Status", c.status),
        project=labels.get(PROJECT_LABEL, ""),
        health=((state.get("Health") or {}).get("Status") or ""),
        exit_code=int(state.get("ExitCode") or 0),
        image_id=attrs.get("Image", ""),
        config_hash=labels.get(CONFIG_HASH_LABEL, ""),
        ports=_ports(attrs),
    )


def containers(docker_host: str, projects: Iterable[str] | None = None) -> list[ContainerInfo]:
    """All compose containers (running or not) of the given projects, in one engine call
    (a list page asks once per engine, not once per stack). `None`: every project."""
    wanted = None if projects is None else set(projects)
    label = PROJECT_LABEL if wanted is None or len(wanted) != 1 else f"{PROJECT_LABEL}={next(iter(wanted))}"
    try:
        client = _client(docker_host)
        try:
            found = client.containers.list(all=True, filters={"label": label})
            infos = [_info(c) for c in found if (c.labels or {}).get(ONEOFF_LABEL) != "True"]
        finally:
            client.close()
    except DockerException as exc:
        raise EngineError(f"Cannot list containers: {exc}") from exc
    return [i for i in infos if wanted is None or i.project in wanted]


def project_containers(docker_host: str, project: str) -> list[ContainerInfo]:
    """All containers (running or not) of one compose project."""
    return containers(docker_host, [project])
