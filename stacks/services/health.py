"""Whether a stack's containers are up and healthy: the deploy's health gate and the
`health` a stack shows (Healthy / Degraded / Missing)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable

from stacks import engine
from stacks.engine import ContainerInfo
from stacks.services.deploy_errors import DeployError

POLL_SECONDS = 1.0


def _problem(c: ContainerInfo) -> str | None:
    """Why a container is not fine; "" while it may still become fine; None when fine."""
    if c.state == "running":
        return {"": None, "healthy": None, "starting": "", "unhealthy": "unhealthy"}.get(c.health, "")
    if c.state == "exited":
        return None if c.exit_code == 0 else f"exited with code {c.exit_code}"  # one-shot jobs may end
    if c.state == "dead":
        return "dead"
    return ""  # created, restarting, paused: not yet (or not any more) up


def problems(containers: Iterable[ContainerInfo], services: Collection[str]) -> dict[str, str]:
    """Per service that is not up and healthy, what is wrong ("" = not settled yet)."""
    found: dict[str, list[ContainerInfo]] = {}
    for c in containers:
        found.setdefault(c.service, []).append(c)
    out: dict[str, str] = {}
    for service in services:
        if service not in found:
            out[service] = "no container"
            continue
        for c in found[service]:
            problem = _problem(c)
            if problem is not None:
                out[service] = problem or out.get(service, "")
    return out


def wait_until_healthy(
    *,
    endpoint: engine.Endpoint,
    project: str,
    services: Collection[str],
    timeout: float,
    on_line: Callable[[str], None],
    stop: threading.Event | None = None,
) -> list[ContainerInfo] | None:
    """Wait up to `timeout` for every service to run (and pass its healthcheck); the
    containers as last seen (None when cancelled).

    Raises DeployError naming the services that did not, at once for one that
    reported unhealthy or exited with an error, else when the time is up.
    """
    on_line(f"Waiting up to {int(timeout)} s for {len(services)} service(s) to be running and healthy")
    seen: list[ContainerInfo] = []

    def pending() -> dict[str, str]:
        seen[:] = engine.project_containers(endpoint, project)
        return problems(seen, services)

    if not _wait(
        pending, fatal=lambda problem: bool(problem) and problem != "no container", timeout=timeout, stop=stop
    ):
        return None
    on_line("All services are running and healthy")
    return seen


def wait_until_converged(
    *,
    endpoint: engine.Endpoint,
    namespace: str,
    services: Collection[str],
    timeout: float,
    on_line: Callable[[str], None],
    stop: threading.Event | None = None,
) -> None:
    """A swarm stack's gate: every service runs its desired replicas within `timeout`
    (the swarm restarts failing tasks itself, so only the time running out fails it)."""
    on_line(f"Waiting up to {int(timeout)} s for {len(services)} swarm service(s) to run their replicas")

    def pending() -> dict[str, str]:
        found = {s.service: s for s in engine.services(endpoint, [namespace])}
        out = {}
        for name in services:
            info = found.get(name)
            if info is None:
                out[name] = "no service"
            elif not info.converged:
                out[name] = f"{info.running}/{info.desired} running" + (", updating" if info.updating else "")
                out[name] += f", {info.error}" if info.error else ""
        return out

    if _wait(pending, fatal=lambda _: False, timeout=timeout, stop=stop):
        on_line("All swarm services run their replicas")


def _wait(
    pending: Callable[[], dict[str, str]],
    *,
    fatal: Callable[[str], bool],
    timeout: float,
    stop: threading.Event | None,
) -> bool:
    """Poll `pending` (service -> why not yet, "" for "not yet") until it is empty: True.
    False when cancelled; DeployError for a fatal problem or when the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = pending()
        except engine.EngineError as exc:
            raise DeployError(str(exc)) from exc
        failed = {s: p for s, p in found.items() if fatal(p)}
        if not found:
            return True
        if failed or time.monotonic() >= deadline:
            named = ", ".join(f"{s} ({p or 'not healthy yet'})" for s, p in sorted((failed or found).items()))
            raise DeployError(f"Not healthy after the deploy: {named}")
        if stop is not None and stop.wait(POLL_SECONDS):
            return False  # cancelled: the caller reports it
        if stop is None:
            time.sleep(POLL_SECONDS)


def stack_health(containers: Iterable[ContainerInfo], services: Collection[str]) -> str:
    """Healthy / Degraded / Missing for what runs now ("Unknown" without expectations)."""
    containers = list(containers)
    if not containers:
        return "Missing" if services else "Unknown"
    if not services:
        return "Unknown"
    return "Degraded" if problems(containers, services) else "Healthy"
