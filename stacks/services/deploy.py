"""Deploying a checked-out stack with compose: paths, environment, `up`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from django.conf import settings

from stacks import compose
from stacks.models import Environment, GitStack
from stacks.services.compose_checks import MAX_FILE_BYTES, check_model, check_sources
from stacks.services.deploy_errors import DeployError


def relative_path_problem(value: str) -> str | None:
    """Why `value` is not an acceptable repository-relative path, or None (API validation)."""
    if not value:
        return None
    if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        return "must be a path relative to the repository root"
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        return "must not contain '..'"
    if "\x00" in value:
        return "must not contain NUL characters"
    return None


def confined(workdir: Path, relative: str, what: str) -> Path:
    """`relative` resolved inside `workdir`; symlinks leaving the checkout are refused."""
    problem = relative_path_problem(relative)
    if problem:
        raise DeployError(f"{what} {problem}")
    root = workdir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise DeployError(f"{what} {relative!r} points outside the repository")
    if not target.is_file():
        raise DeployError(f"{what} {relative!r} was not found in the repository")
    if target.stat().st_size > MAX_FILE_BYTES:
        raise DeployError(f"{what} {relative!r} is larger than {MAX_FILE_BYTES} bytes")
    return target


def _dotenv_value(value: str) -> str:
    # Single quotes are literal in compose's dotenv; double quotes need escapes for the
    # characters compose would otherwise interpret.
    if "'" not in value and "\n" not in value and "\r" not in value:
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Write a 0600 dotenv file for compose's `--env-file` (non-secret values only).

    Atomically: compose must never read a file cut short by a full disk (a variable
    silently missing would deploy wrong), so it is written aside, flushed, then renamed.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{key}={_dotenv_value(value)}\n" for key, value in values.items()))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DeployError(f"Could not write the environment file for compose: {exc.strerror}") from exc


def stack_deploy(
    *,
    stack: GitStack,
    workdir: Path,
    metadata: Mapping[str, str],
    run_id: str,
    on_line: Callable[[str], None],
) -> None:
    """Run `docker compose up` for a checked-out stack (spec §4 steps 5–7).

    Lowest first: the repository env file, non-secret overrides, git metadata — in a
    generated file outside the checkout; secret overrides only in the process env.
    """
    compose_file = confined(workdir, stack.compose_path, "composePath")
    check_sources(workdir, compose_file)
    env_files = []
    if stack.env_file_path:
        env_files.append(confined(workdir, stack.env_file_path, "envFilePath"))
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for var in stack.env_vars.all():
        (secret if var.is_secret else plain)[var.key] = var.value or ""
    plain.update(metadata)
    generated = settings.RUN_DIR / f"{run_id}.env"
    write_env_file(generated, plain)
    env_files.append(generated)
    try:
        project = compose.ComposeProject(
            name=stack.project_name, workdir=compose_file.parent, files=[compose_file], env_files=env_files
        )
        env = compose.process_env(
            docker_host=stack.environment.docker_host or settings.DEFAULT_DOCKER_HOST, extra=secret
        )
        model = compose.config(project, env=env)
        check_model(workdir, model, restricted=stack.environment.policy == Environment.Policy.RESTRICTED)
        compose.up(project, env=env, on_line=on_line, build=compose.builds(model), timeout=settings.DEPLOY_TIMEOUT)
    finally:
        generated.unlink(missing_ok=True)
