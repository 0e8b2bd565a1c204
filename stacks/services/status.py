"""Argo-style status of stacks: `syncState` (Synced / OutOfSync / Unknown) and `health`
(Healthy / Degraded / Missing / Unknown), from the stack's records and its containers.

A list asks each engine once for every stack on it; nothing here queries the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stacks import engine
from stacks.engine import ContainerInfo
from stacks.models import GitStack, StackEnvVar
from stacks.services.health import stack_health
from stacks.services.masked import SecretMask
from stacks.services.revision import changes, stack_config

Overrides = Mapping[int, Sequence[StackEnvVar]]


@dataclass(frozen=True)
class StackState:
    sync_state: str
    health: str
    reasons: tuple[str, ...] = ()


ADOPTED_AS_FOUND = "adopted as it ran, which is not the repository's model: a sync deploys it"
UNKNOWN = StackState("Unknown", "Unknown", ("the Docker engine could not be asked",))


def revision_reasons(stack: GitStack, overrides: Sequence[StackEnvVar] | None = None) -> list[str]:
    """Why the desired revision is not the applied one: the branch moved on (or the
    stack is pinned to a commit), an override, secret or option changed since the last
    deploy. Empty when a sync would find nothing to do."""
    reasons = []
    if stack.pinned_commit and stack.pinned_commit != stack.remote_head:
        head = stack.remote_head[:12] if stack.remote_head else "unknown"
        reasons.append(f"pinned to {stack.pinned_commit[:12]}, branch is at {head}")
    elif stack.remote_head and stack.remote_head != stack.last_commit:
        reasons.append(f"new commit {stack.remote_head[:7]}")
    return reasons + changes(stack.applied_config, stack_config(stack, overrides))


def sync_state(
    stack: GitStack, containers: Iterable[ContainerInfo], overrides: Sequence[StackEnvVar] | None = None
) -> tuple[str, list[str]]:
    """OutOfSync when the desired revision is not the applied one, or when a running
    container's config hash is not what the last deploy rendered (a hand edit)."""
    adopted_as_found = not stack.last_commit and stack.sync_status == GitStack.SyncStatus.NEVER
    if not stack.deployed_config_hashes or not (stack.last_commit or adopted_as_found):
        return "Unknown", ["not deployed by dockhand yet"]
    # An adopted project whose containers were not the repository's model: recorded as
    # it ran (services/adopt.py), and out of sync until a sync deploys the repository.
    reasons = [ADOPTED_AS_FOUND] if adopted_as_found else revision_reasons(stack, overrides)
    by_service: dict[str, list[ContainerInfo]] = {}
    for c in containers:
        by_service.setdefault(c.service, []).append(c)
    for service, expected in sorted(stack.deployed_config_hashes.items()):
        found = by_service.get(service, [])
        if not found:
            reasons.append(f"service {service} has no container")
        elif any(c.config_hash != expected for c in found):
            reasons.append(f"container {service} changed by hand")
    return ("OutOfSync" if reasons else "Synced"), reasons


def stack_workloads(stack: GitStack) -> Sequence[ContainerInfo | engine.ServiceInfo]:
    """What runs for the stack now, as its pages and API show it: its containers, or a
    swarm stack's services (with their replicas), the stack's secrets masked in them.
    EngineError (masked too) when its engine cannot be asked."""
    endpoint = stack.environment.engine_endpoint()
    masked = SecretMask.of(stack)
    with masked.errors():
        if stack.environment.swarm:
            return [masked.answer(s) for s in engine.services(endpoint, [stack.project_name])]
        return [masked.answer(c) for c in engine.project_containers(endpoint, stack.project_name)]


def swarm_state(
    stack: GitStack, services: Iterable[engine.ServiceInfo], overrides: Sequence[StackEnvVar] | None = None
) -> StackState:
    """A swarm stack: its services instead of containers. Synced when the branch has not
    moved and every deployed service exists; Healthy when each runs its replicas."""
    found = {s.service: s for s in services}
    expected = list(stack.deployed_config_hashes)
    if not stack.last_commit or not expected:
        state, reasons = "Unknown", ["not deployed by dockhand yet"]
    else:
        reasons = revision_reasons(stack, overrides)
        reasons += [f"service {name} is missing" for name in expected if name not in found]
        state = "OutOfSync" if reasons else "Synced"
    if not found:
        health = "Missing" if expected else "Unknown"
    else:
        health = "Healthy" if all(s.converged for s in found.values()) and set(expected) <= set(found) else "Degraded"
    return StackState(state, health, tuple(reasons))


def stack_states(stacks: Iterable[GitStack], overrides: Overrides | None = None) -> dict[int, StackState]:
    """State of each stack, asking each engine once. `overrides`: each stack's, by id,
    when the caller read them already (else the stack's own, prefetched or not)."""
    by_environment: dict[int, list[GitStack]] = {}
    for stack in stacks:
        by_environment.setdefault(stack.environment_id, []).append(stack)
    by_engine: dict[tuple[engine.Endpoint, bool], list[GitStack]] = {}
    for group in by_environment.values():
        environment = group[0].environment
        by_engine.setdefault((environment.engine_endpoint(), environment.swarm), []).extend(group)
    states: dict[int, StackState] = {}
    for (endpoint, on_swarm), group in by_engine.items():
        projects = [s.project_name for s in group]
        try:
            if on_swarm:
                services = engine.services(endpoint, projects)
                for stack in group:
                    ours = [s for s in services if s.namespace == stack.project_name]
                    states[stack.id] = swarm_state(stack, ours, _of(overrides, stack))
                continue
            found = engine.containers(endpoint, projects)
        except engine.EngineError:
            states.update({s.id: UNKNOWN for s in group})
            continue
        of_project: dict[str, list[engine.ContainerInfo]] = {}
        for container in found:
            of_project.setdefault(container.project, []).append(container)
        for stack in group:
            mine = of_project.get(stack.project_name, [])
            state, reasons = sync_state(stack, mine, _of(overrides, stack))
            states[stack.id] = StackState(
                state, stack_health(mine, stack.deployed_config_hashes.keys()), tuple(reasons)
            )
    return states


def _of(overrides: Overrides | None, stack: GitStack) -> Sequence[StackEnvVar] | None:
    return None if overrides is None else overrides.get(stack.id, ())
