"""The stack operations (start / stop / restart / down), under the one stack lock:
never beside a sync."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from dockhand.audit import record
from dockhand.errors import Conflict
from stacks import compose, engine, swarm
from stacks.models import Deployment, GitStack
from stacks.services.access import require_operate
from stacks.services.lock import operation_lock
from stacks.services.masked import SecretMask
from stacks.services.status import stack_workloads
from stacks.services.swarm_ops import stack_service_restart
from stacks.services.sync import stack_sync

OPERATIONS = {
    "start": ["start"],
    "stop": ["stop"],
    "restart": ["restart"],
}


def stack_operate(*, stack: GitStack, operation: str, by: Any, volumes: bool = False, images: bool = False) -> str:
    """start / stop / restart / down; returns compose's output.

    A stack stopped or taken down stays so: syncs record that and do not redeploy it
    until it is started again. Starting a stack that was taken down redeploys it. In a
    protected environment only those who deploy without approval operate stacks.
    """
    require_operate(by, stack.environment)
    timeout = stack.compose_timeout or settings.DEPLOY_TIMEOUT
    endpoint = stack.environment.engine_endpoint()
    on_swarm = stack.environment.swarm
    if on_swarm and operation == "stop":
        raise Conflict("A swarm stack is not stopped: the swarm keeps its replicas running; take it down instead")
    if on_swarm and operation == "restart":  # each replicated service's tasks replaced, rolling
        restarted = stack_service_restart(stack=stack, service=None, by=by, wait=False)
        return "Restarting " + ", ".join(r.name for r in restarted)
    lines: list[str] = []  # compose names the containers: masked before they are shown
    masked = SecretMask.of(stack)
    if operation == "start" and not _has_containers(stack):
        stack.record(stopped_by_user=False)
        record("stack.start", stack, "no containers: redeploying")
        deployment = stack_sync(stack=stack, trigger=Deployment.Trigger.MANUAL, by=by, force=True)
        return f"No containers to start: deployment #{deployment.number} redeploys the stack"
    if on_swarm and operation == "start":
        return "The swarm already runs the stack's services"
    command = OPERATIONS.get(operation)
    if command is None:  # down
        command = (
            ["down", "--remove-orphans"] + (["--volumes"] if volumes else []) + (["--rmi", "all"] if images else [])
        )
    with masked.errors(), operation_lock(stack, timeout), engine.cli_env(endpoint) as engine_env:
        env = compose.process_env(engine_env=engine_env)
        if on_swarm:  # down: `docker stack rm` (volumes stay on the nodes that hold them)
            swarm.remove(stack.project_name, env=env, on_line=lines.append, timeout=timeout)
        else:
            compose.operate(stack.project_name, command, env=env, on_line=lines.append, timeout=timeout)
        stack.record(stopped_by_user=operation in ("stop", "down"))
    record(f"stack.{operation}", stack, f"volumes={volumes} images={images}" if operation == "down" else "")
    return masked.text("\n".join(lines))


def _has_containers(stack: GitStack) -> bool:
    try:
        return bool(stack_workloads(stack))
    except engine.EngineError:
        return True  # let compose report the engine problem
