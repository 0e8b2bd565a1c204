"""Docker Swarm stacks: `docker stack deploy` and `docker stack rm`, behind one module.

A swarm stack gets the same inputs as a compose one: compose renders the project (env
files, overrides, git metadata interpolated) and that model, trimmed to what the
swarm's compose schema accepts, is what the stack deploys. The rendered file holds
interpolated secrets, so it lives in a private run file only while the CLI reads it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings

from stacks.compose import ComposeError, run

# Service keys of compose's model that `docker stack deploy` refuses or cannot do.
_LOCAL_ONLY = ("pull_policy", "build", "container_name", "depends_on", "profiles", "develop", "scale")
# pullPolicy -> --resolve-image: whether the swarm asks the registry for image digests.
RESOLVE = {"always": "always", "missing": "changed", "never": "never"}


def docker_cli() -> str:
    found = shutil.which("docker")
    if found is None:
        raise ComposeError("Swarm environments need the docker CLI (docker stack deploy), and it is not installed")
    return found


def stack_file(model: Mapping[str, Any]) -> dict[str, Any]:
    """Compose's resolved model as a swarm stack file."""
    services = {
        # compose writes unset keys as null; the swarm schema wants them absent
        name: {key: value for key, value in service.items() if key not in _LOCAL_ONLY and value is not None}
        for name, service in (model.get("services") or {}).items()
    }
    trimmed = {key: value for key, value in model.items() if key in ("networks", "volumes", "secrets", "configs")}
    return {"version": "3.9", "services": services, **trimmed}


def deploy(
    namespace: str,
    model: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    pull: str,
    on_line: Callable[[str], None],
    timeout: float,
    stop: threading.Event | None = None,
    registry_auth: bool = False,
) -> None:
    """`docker stack deploy --prune`: services of the stack not in the file are removed.
    `registry_auth`: the run's registry logins go to the swarm's nodes with it."""
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=settings.RUN_DIR, prefix="stack-", suffix=".partial") as rendered:
        json.dump(stack_file(model), rendered)  # JSON is YAML; 0600 by tempfile
        rendered.flush()
        args = ["stack", "deploy", "--prune", "--resolve-image", RESOLVE.get(pull, "changed")]
        if registry_auth:
            args.append("--with-registry-auth")
        run(
            [*args, "-c", rendered.name, namespace],
            env=env,
            on_line=on_line,
            timeout=timeout,
            stop=stop,
            program=[docker_cli()],
        )


def remove(namespace: str, *, env: Mapping[str, str], on_line: Callable[[str], None], timeout: float) -> None:
    """`docker stack rm`: the stack's services, networks, secrets and configs."""
    run(["stack", "rm", namespace], env=env, on_line=on_line, timeout=timeout, program=[docker_cli()])
