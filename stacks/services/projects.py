"""Every compose project an environment's engine runs, managed by a dockhand stack or
not (doco-cd's projects API, Dockhand's `/api/stacks`): listed from the containers'
`com.docker.compose.project` labels, and started, stopped, restarted or removed by name.

A managed project is its stack's: start / stop / restart go through the stack's own
operation (its lock, its "stopped by the user" record), and removing it is refused,
pointing at the stack, whose next sync would otherwise bring it back. Projects are an
environment admin's to act on; whoever sees the environment sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from dockhand.audit import record
from dockhand.errors import Conflict
from stacks import compose, engine
from stacks.engine import ContainerInfo
from stacks.models import Environment, GitStack, Membership
from stacks.services.access import require
from stacks.services.masked import SecretMask
from stacks.services.operations import stack_operate

PROJECT_ACTIONS = ("start", "stop", "restart")


class ProjectMissing(LookupError):
    """No container of the environment's engine carries that project name (404)."""

    error_code = "not_found"


class ProjectManaged(Conflict):
    """The project is a dockhand stack's: act on the stack instead (409)."""

    error_code = "project_managed"


@dataclass(frozen=True)
class Project:
    """One compose project on an engine: its containers (masked with its stack's
    secrets when it has one), per service, and the stack that manages it, if any."""

    name: str
    environment: Environment
    containers: list[ContainerInfo]
    stack: GitStack | None = None
    services: dict[str, list[str]] = field(default_factory=dict)  # service: its containers' states

    @property
    def managed(self) -> bool:
        return self.stack is not None

    @property
    def status(self) -> str:
        """`running`, `partially running`, `exited` (or the one state all share), as
        `docker compose ls` words it."""
        states = {c.state for c in self.containers}
        if states == {"running"}:
            return "running"
        if "running" in states:
            return "partially running"
        return states.pop() if len(states) == 1 else "stopped"


def _project(name: str, environment: Environment, found: list[ContainerInfo], stack: GitStack | None) -> Project:
    if stack is not None:
        masked = SecretMask.of(stack)
        found = [masked.answer(c) for c in found]
    services: dict[str, list[str]] = {}
    for container in sorted(found, key=lambda c: (c.service, c.name)):
        services.setdefault(container.service, []).append(container.state)
    return Project(name, environment, sorted(found, key=lambda c: c.name), stack, services)


def environment_projects(*, environment: Environment, include_stopped: bool = True) -> list[Project]:
    """The compose projects of the environment's engine, by name; `include_stopped`
    False leaves out those with no running container (doco-cd's `all=false`).
    EngineError when the engine cannot be asked."""
    by_project: dict[str, list[ContainerInfo]] = {}
    for container in engine.containers(environment.engine_endpoint()):
        by_project.setdefault(container.project, []).append(container)
    stacks = {s.project_name: s for s in GitStack.objects.filter(environment=environment).select_related("repository")}
    projects = [_project(name, environment, found, stacks.get(name)) for name, found in sorted(by_project.items())]
    if not include_stopped:
        projects = [p for p in projects if any(c.state == "running" for c in p.containers)]
    return projects


def projects_listed(*, environments: Iterable[Environment], include_stopped: bool = True) -> list[Project]:
    """The projects of each environment (an engine that cannot be asked lists none:
    one offline engine does not hide the others' projects)."""
    listed: list[Project] = []
    for environment in environments:
        try:
            listed += environment_projects(environment=environment, include_stopped=include_stopped)
        except engine.EngineError:
            continue
    return listed


def environment_project(*, environment: Environment, name: str) -> Project:
    """One project of the environment's engine; ProjectMissing when no container has it."""
    found = engine.project_containers(environment.engine_endpoint(), name)
    if not found:
        raise ProjectMissing(f"No compose project {name!r} runs on the engine of {environment.name}")
    stack = GitStack.objects.filter(environment=environment, project_name=name).first()
    return _project(name, environment, found, stack)


def project_operate(*, environment: Environment, name: str, action: str, by: Any) -> str:
    """Start, stop or restart a project; returns compose's output. A managed project's
    action is its stack's operation (under the stack's lock: StackBusy beside a sync)."""
    if action not in PROJECT_ACTIONS:
        raise ValueError(f"not a project action: {action}")
    require(by, environment.pk, Membership.Role.ADMIN)
    project = environment_project(environment=environment, name=name)
    if project.stack is not None:
        return stack_operate(stack=project.stack, operation=action, by=by)
    output = _compose(environment, name, [action])
    record(f"project.{action}", environment, f"project {name}")
    return output


def project_delete(*, environment: Environment, name: str, by: Any, volumes: bool = False, images: bool = False) -> str:
    """`down` an unmanaged project (its containers and networks; its named volumes and
    images when asked). A managed one is refused: its stack's next sync would bring
    it back, so the stack is what to delete."""
    require(by, environment.pk, Membership.Role.ADMIN)
    project = environment_project(environment=environment, name=name)
    if project.stack is not None:
        raise ProjectManaged(
            f"Project {name!r} is stack {project.stack.name}'s (id {project.stack.pk}): "
            f"delete the stack (DELETE /api/git/stacks/{project.stack.pk}) or take it down instead"
        )
    command = ["down", "--remove-orphans"] + (["--volumes"] if volumes else []) + (["--rmi", "all"] if images else [])
    output = _compose(environment, name, command)
    record("project.delete", environment, f"project {name} volumes={volumes} images={images}")
    return output


def _compose(environment: Environment, name: str, command: list[str]) -> str:
    lines: list[str] = []
    with engine.cli_env(environment.engine_endpoint()) as engine_env:
        env = compose.process_env(engine_env=engine_env)
        compose.operate(name, command, env=env, on_line=lines.append, timeout=settings.DEPLOY_TIMEOUT)
    return "\n".join(lines)
