"""One container of a stack: its log (the stack's secrets masked), what it uses, and
start / stop / restart for deployers.

A container is looked up among the stack's own compose project only, so the id or name
of another project's container (or of none) is "not found", whatever the caller may do
elsewhere on that engine. An action takes the stack's lock: never beside a sync, which
may be recreating that very container.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings

from dockhand.audit import record
from dockhand.errors import Conflict, Forbidden
from stacks import engine
from stacks.engine import ContainerInfo, ContainerStats, LogLine
from stacks.models import Environment, GitStack, Membership
from stacks.services.access import deploy_needs_approval, may_review, require
from stacks.services.lock import operation_lock
from stacks.services.masked import SecretMask

SHORT_ID = 12  # how `docker ps` shows an id, and the shortest prefix taken for one


class ContainerMissing(LookupError):
    """No container of that id or name in the stack's project (answered 404)."""

    error_code = "not_found"


def _find(stack: GitStack, masked: SecretMask, ref: str) -> ContainerInfo:
    if stack.environment.swarm:
        raise Conflict("A swarm stack's containers are the swarm's to run: its services are shown instead")
    with masked.errors():
        found = [
            masked.answer(c) for c in engine.project_containers(stack.environment.engine_endpoint(), stack.project_name)
        ]
    # By the name as shown (masked): a name with a secret in it is no oracle for the secret.
    named = [c for c in found if c.id == ref or (len(ref) >= SHORT_ID and c.id.startswith(ref)) or c.name == ref]
    if len(named) != 1:
        raise ContainerMissing(f"Stack {stack.name} has no container {masked.text(ref)}")
    return named[0]


def stack_container(*, stack: GitStack, ref: str) -> ContainerInfo:
    """The stack's container that `ref` names: its id (or the first 12 characters of
    it) or its name as the pages show it. ContainerMissing for any other."""
    return _find(stack, SecretMask.of(stack), ref)


def container_log(
    *, stack: GitStack, ref: str, tail: int, since: datetime | None = None
) -> tuple[ContainerInfo, list[LogLine]]:
    """The container and the last `tail` lines of its log (from `since` on), masked."""
    masked = SecretMask.of(stack)
    container = _find(stack, masked, ref)
    with masked.errors():
        lines = engine.container_logs(stack.environment.engine_endpoint(), container.id, tail=tail, since=since)
    return container, [LogLine(line.time, masked.text(line.text)) for line in lines]


class MaskedLogFollow:
    """A container's log as it is written (engine.LogFollow), the stack's secrets masked
    in each line and in an error. `stop()` from any thread ends the iteration."""

    def __init__(self, follow: engine.LogFollow, masked: SecretMask) -> None:
        self.follow, self.masked = follow, masked

    def __iter__(self) -> Iterator[LogLine]:
        with self.masked.errors():
            for line in self.follow:
                yield LogLine(line.time, self.masked.text(line.text))

    def stop(self) -> None:
        self.follow.stop()


def container_log_follow(
    *, stack: GitStack, ref: str, tail: int, after: str = ""
) -> tuple[ContainerInfo, MaskedLogFollow]:
    """The container and its log to follow: the last `tail` lines, or every line after
    the time `after` (a reconnect resumes there), then each new line."""
    masked = SecretMask.of(stack)
    container = _find(stack, masked, ref)
    follow = engine.LogFollow(stack.environment.engine_endpoint(), container.id, tail=tail, after=after)
    return container, MaskedLogFollow(follow, masked)


def container_usage(*, stack: GitStack, containers: Sequence[Any]) -> dict[str, ContainerStats]:
    """Start time, CPU and memory of the running ones of the stack's `containers` (as
    `stack_workloads` listed them), by container id."""
    running = [c.id for c in containers if isinstance(c, ContainerInfo) and c.state == "running"]
    with SecretMask.of(stack).errors():
        return engine.container_stats(stack.environment.engine_endpoint(), running)


def may_operate_containers(user: Any, environment: Environment) -> bool:
    """Whether the pages offer this user start / stop / restart: whoever operates the
    environment's stacks (deployers, unless it needs an approval they cannot give): the
    same people who review deploys there."""
    return may_review(user, environment)


def container_operate(*, stack: GitStack, ref: str, action: str, by: Any) -> ContainerInfo:
    """Start, stop or restart one container of the stack, under the stack's lock
    (StackBusy while a sync runs); returns the container as it is afterwards."""
    if action not in engine.CONTAINER_ACTIONS:
        raise ValueError(f"not a container action: {action}")
    require(by, stack.environment_id, Membership.Role.DEPLOYER)
    if deploy_needs_approval(by, stack.environment):
        raise Forbidden("In this environment only its admins start, stop or restart containers")
    masked = SecretMask.of(stack)
    container = _find(stack, masked, ref)
    timeout = stack.compose_timeout or settings.DEPLOY_TIMEOUT
    with masked.errors(), operation_lock(stack, timeout):
        engine.container_act(stack.environment.engine_endpoint(), container.id, action)
    record(f"container.{action}", stack, f"container {container.name}")  # the name as shown: masked
    return _find(stack, masked, container.id)
