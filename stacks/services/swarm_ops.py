"""A swarm stack's services by hand (doco-cd's swarm endpoints): scale one, restart
one or all, run a job service (`deploy.mode: replicated-job`) again; and, when asked,
wait until the swarm has done it.

Each holds the stack's lock (never beside a sync) and is audited. A scale lasts until
the next deploy, which sets the replicas the compose file says, as `docker stack deploy`
always does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from dockhand.audit import record
from stacks import engine
from stacks.models import GitStack
from stacks.services.access import require_operate
from stacks.services.lock import operation_lock
from stacks.services.masked import SecretMask

POLL_SECONDS = 0.5


class SwarmRefused(ValueError):
    """Not a swarm stack, no such service, or not the kind of service for this (400)."""

    def __init__(self, message: str, *, code: str, field: str = "service") -> None:
        super().__init__(message)
        self.error_code, self.field = code, field


class NotDone(Exception):
    """Waited for the swarm, and it did not get there: a task failed (`job_failed` or
    `task_failed`), or the time ran out (`timeout`)."""

    def __init__(self, message: str, *, code: str, results: list[ServiceResult]) -> None:
        super().__init__(message)
        self.error_code, self.results = code, results


@dataclass(frozen=True)
class ServiceResult:
    """What became of one service: done (converged, or its job completed) or not yet."""

    service: str
    name: str
    done: bool
    detail: str = ""
    error: str = ""


def _services(stack: GitStack, wanted: str | None, fits: Callable[[engine.ServiceInfo], bool], kind: str) -> list[Any]:
    """The stack's services an action is about: the one named, else every one that fits."""
    if not stack.environment.swarm:
        raise SwarmRefused(
            f"Stack {stack.name} is not a swarm stack: its environment deploys with compose", code="not_swarm"
        )
    found = engine.services(stack.environment.engine_endpoint(), [stack.project_name])
    if wanted is not None:
        named = [s for s in found if s.service == wanted]
        if not named:
            known = ", ".join(sorted(s.service for s in found)) or "none"
            raise SwarmRefused(
                f"Stack {stack.name} has no service {wanted!r} (it has: {known})", code="unknown_service"
            )
        if not fits(named[0]):
            raise SwarmRefused(f"Service {wanted!r} is not {kind}", code="wrong_service_kind")
        return named
    chosen = [s for s in found if fits(s)]
    if not chosen:
        raise SwarmRefused(f"Stack {stack.name} has no {kind} service", code="unknown_service")
    return chosen


def _act(
    stack: GitStack,
    by: Any,
    chosen: list[engine.ServiceInfo],
    act: Callable[[str], None],
    *,
    wait: bool,
    action: str,
    detail: str = "",
) -> list[ServiceResult]:
    require_operate(by, stack.environment)
    endpoint = stack.environment.engine_endpoint()
    timeout = stack.compose_timeout or settings.DEPLOY_TIMEOUT
    with SecretMask.of(stack).errors(), operation_lock(stack, timeout):
        for service in chosen:
            act(service.name)
        record(action, stack, f"services {', '.join(s.service for s in chosen)}{detail}")
        results = _watch(endpoint, chosen, timeout if wait else 0)
    failed = [r for r in results if r.error]
    if failed:
        code = "job_failed" if any(s.job for s in chosen) else "task_failed"
        raise NotDone(f"Service {failed[0].service}: {failed[0].error}", code=code, results=results)
    if wait and not all(r.done for r in results):
        late = next(r for r in results if not r.done)
        raise NotDone(
            f"Service {late.service} did not get there within {int(timeout)} s ({late.detail})",
            code="timeout",
            results=results,
        )
    return results


def _watch(endpoint: engine.Endpoint, chosen: list[engine.ServiceInfo], timeout: float) -> list[ServiceResult]:
    """Each service's rollout, asked until all are done or one failed (timeout 0: once)."""
    deadline = time.monotonic() + timeout
    while True:
        results = []
        for service in chosen:
            rollout = engine.service_rollout(endpoint, service.name)
            results.append(ServiceResult(service.service, service.name, rollout.done, rollout.detail, rollout.error))
        finished = all(r.done for r in results) or any(r.error for r in results)
        if finished or time.monotonic() >= deadline:
            return results
        time.sleep(POLL_SECONDS)


def stack_scale(*, stack: GitStack, service: str | None, replicas: int, by: Any, wait: bool) -> list[ServiceResult]:
    """Set the replicas of one replicated service (of each, when none is named)."""
    chosen = _services(stack, service, lambda s: not s.job, "a replicated")
    endpoint = stack.environment.engine_endpoint()
    return _act(
        stack,
        by,
        chosen,
        lambda name: engine.service_scale(endpoint, name, replicas),
        wait=wait,
        action="stack.scale",
        detail=f" replicas={replicas}",
    )


def stack_service_restart(*, stack: GitStack, service: str | None, by: Any, wait: bool) -> list[ServiceResult]:
    """Replace the tasks of one service (of each replicated one, when none is named)."""
    chosen = _services(stack, service, lambda s: not s.job, "a replicated")
    endpoint = stack.environment.engine_endpoint()
    return _act(
        stack, by, chosen, lambda name: engine.service_redo(endpoint, name), wait=wait, action="stack.restart_service"
    )


def stack_job_run(*, stack: GitStack, service: str | None, by: Any, wait: bool) -> list[ServiceResult]:
    """Run a job service once more (each job service, when none is named)."""
    chosen = _services(stack, service, lambda s: s.job, "a job (deploy.mode: replicated-job)")
    endpoint = stack.environment.engine_endpoint()
    return _act(stack, by, chosen, lambda name: engine.service_redo(endpoint, name), wait=wait, action="stack.run_job")
