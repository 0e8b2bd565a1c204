"""Everything dockhand asks the Docker engine directly (docker SDK), behind one module."""

from __future__ import annotations

from dataclasses import dataclass

import docker
from docker.errors import DockerException

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class EngineError(Exception):
    """The engine could not be reached or refused a request."""


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    service: str
    image: str
    state: str


def _client(docker_host: str) -> docker.DockerClient:
    try:
        if docker_host:
            return docker.DockerClient(base_url=docker_host, timeout=10)
        return docker.from_env(timeout=10)
    except DockerException as exc:
        raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc


def ping(docker_host: str) -> None:
    """Raise EngineError unless the engine answers."""
    try:
        client = _client(docker_host)
        try:
            client.ping()
        finally:
            client.close()
    except DockerException as exc:
        raise EngineError(f"Cannot reach the Docker engine: {exc}") from exc


def project_containers(docker_host: str, project: str) -> list[ContainerInfo]:
    """All containers (running or not) of a compose project."""
    try:
        client = _client(docker_host)
        try:
            found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
            return [
                ContainerInfo(
                    id=c.id or "",
                    name=c.name or "",
                    service=c.labels.get(SERVICE_LABEL, ""),
                    image=(c.image.tags[0] if c.image and c.image.tags else c.attrs.get("Config", {}).get("Image", "")),
                    state=c.status,
                )
                for c in found
            ]
        finally:
            client.close()
    except DockerException as exc:
        raise EngineError(f"Cannot list containers: {exc}") from exc
