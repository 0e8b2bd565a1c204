"""Deploying a checked-out stack with compose: paths, environment, `up`."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings

from dockhand.crypto import fingerprint
from gitsync import git
from stacks import compose, engine, registry, swarm
from stacks.models import GitStack
from stacks.services import images
from stacks.services.compose_checks import MAX_FILE_BYTES, check_model, check_sources
from stacks.services.deploy_errors import DeployError
from stacks.services.health import wait_until_converged, wait_until_healthy
from stacks.services.policy import check_policy
from stacks.services.registries import registry_secrets, stack_logins
from stacks.services.secret_inputs import (
    Resolved,
    is_generated,
    mask_values,
    refuse_encrypted_env_files,
    secret_inputs_applied,
)


def stack_secrets(stack: GitStack) -> list[str]:
    """Every secret value a stack's output or pages must mask: its secret overrides, its
    repository credential's secrets, the passwords of the registries it may use, and
    what its store references and encrypted files resolved to."""
    credential = stack.repository.credential
    overrides = [v.value for v in stack.env_vars.all() if v.is_secret and v.value]
    registries = registry_secrets(stack.environment_id)
    return overrides + (credential.secret_values() if credential else []) + registries + mask_values(stack)


def git_metadata(stack: GitStack, commit: git.Commit) -> dict[str, str]:
    """The GIT_* variables compose gets for a commit of the stack's branch (spec §4)."""
    return {
        "GIT_REPO": stack.repository.url,
        "GIT_BRANCH": stack.branch,
        "GIT_COMMIT_SHA": commit.sha,
        "GIT_COMMIT_MESSAGE": commit.message,
        "GIT_COMMIT_AUTHOR": commit.author,
    }


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
    target = _resolved(root / relative, what, relative)
    if not target.is_relative_to(root):
        raise DeployError(f"{what} {relative!r} points outside the repository")
    if not target.is_file():
        raise DeployError(f"{what} {relative!r} was not found in the repository")
    if target.stat().st_size > MAX_FILE_BYTES:
        raise DeployError(f"{what} {relative!r} is larger than {MAX_FILE_BYTES} bytes")
    return target


def _resolved(path: Path, what: str, relative: str) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
        raise DeployError(f"{what} {relative!r} cannot be resolved (a symlink loop?)") from exc


def project_dotenv(workdir: Path, project_dir: Path) -> Path | None:
    """Compose's own `.env` in the project folder, confined and checked like every file
    of the repository; None when compose would read none (absent, or not a file).

    Compose reads it only when no `--env-file` is given, and dockhand always gives one
    (the generated file), so it is passed explicitly, first: without it, a monorepo's
    `apps/web/.env` would silently not be read (a `.env` above the project folder is
    not read by compose either)."""
    root = workdir.resolve()
    candidate = project_dir / ".env"
    relative = candidate.relative_to(root).as_posix()
    target = _resolved(candidate, ".env file", relative)
    if target.is_relative_to(root) and not target.is_file():
        return None  # none, a folder or a dangling link: compose skips those too
    return confined(workdir, relative, ".env file")


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


@dataclass(frozen=True)
class Deployed:
    """What a deploy ran: the variables passed (secrets only as fingerprints), the
    compose config hash of each service and the image it runs (tag, digest, image id:
    read from the containers compose left), the model `compose config` resolved (with
    secret values in it: masked before it is stored or shown), and what was pushed."""

    env_snapshot: dict[str, str]
    config_hashes: dict[str, str]
    images: list[dict[str, str]] = dataclasses.field(default_factory=list)
    model: dict[str, object] = dataclasses.field(default_factory=dict)
    secret_inputs: Resolved | None = None  # what its references and encrypted files resolved to
    pushed: list[str] = dataclasses.field(default_factory=list)


def stack_project(stack: GitStack, workdir: Path, env_files: list[Path]) -> compose.ComposeProject:
    """The compose project of a checked-out stack: its files confined to the working
    copy and checked as untrusted input, in order, with its profiles; `env_files` go
    on top of compose's own `.env` in the project folder (the compose file's)."""
    files = [confined(workdir, stack.compose_path, "composePath")]
    for index, extra in enumerate(stack.additional_compose_files):
        files.append(confined(workdir, extra, f"additionalComposeFiles[{index}]"))
    # Compose resolves every -f file's relative paths against the project folder.
    check_sources(workdir, files, project_dir=files[0].parent)
    dotenv = project_dotenv(workdir, files[0].parent)
    if dotenv and dotenv not in env_files:  # (the same file as envFilePath: once is enough)
        env_files = [dotenv, *env_files]
    return compose.ComposeProject(
        name=stack.project_name, workdir=files[0].parent, files=files, env_files=env_files, profiles=stack.profiles
    )


@dataclass(frozen=True)
class _Inputs:
    project: compose.ComposeProject
    env: dict[str, str]  # the compose process environment (secret overrides included)
    plain: dict[str, str]
    secret: dict[str, str]
    endpoint: engine.Endpoint
    resolved: Resolved
    docker_config: Path  # this run's own DOCKER_CONFIG: registry.docker_config


@contextmanager
def _compose_inputs(stack: GitStack, workdir: Path, metadata: Mapping[str, str], run_id: str) -> Iterator[_Inputs]:
    """The project and environment compose runs with, the generated env file removed after.

    Lowest first (later `--env-file`s win, the process env beats them all): compose's
    own `.env`, the repository env file (envFilePath), then non-secret overrides and
    git metadata in a generated file outside the checkout; secret overrides and store
    references only in the process env. A SOPS-encrypted env file is read decrypted,
    from a 0600 file outside the checkout removed with the generated one.
    """
    plain, secret = _overrides(stack)
    plain.update(metadata)
    generated = _generated_path(run_id)
    project = _project(stack, workdir, run_id)
    write_env_file(generated, plain)
    try:
        with secret_inputs_applied(stack, project, root=workdir, run_id=run_id) as (project, resolved):
            secret.update(resolved.env)
            endpoint = stack.environment.engine_endpoint()
            with engine.cli_env(endpoint) as engine_env, registry.docker_config(settings.RUN_DIR) as docker_config:
                env = compose.process_env(engine_env=engine_env, extra=secret, docker_config=docker_config)
                yield _Inputs(project, env, plain, secret, endpoint, resolved, docker_config)
    finally:
        generated.unlink(missing_ok=True)
        _override_path(run_id).unlink(missing_ok=True)


def _overrides(stack: GitStack) -> tuple[dict[str, str], dict[str, str]]:
    """The stack's overrides: (plain, secret)."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for var in stack.env_vars.all():
        (secret if var.is_secret else plain)[var.key] = var.value or ""
    return plain, secret


def _project(stack: GitStack, workdir: Path, run_id: str) -> compose.ComposeProject:
    env_files = []
    if stack.env_file_path:
        env_files.append(confined(workdir, stack.env_file_path, "envFilePath"))
    return stack_project(stack, workdir, [*env_files, _generated_path(run_id)])


def _generated_path(run_id: str) -> Path:
    return settings.RUN_DIR / f"{run_id}.env"


@contextmanager
def stack_config_ahead(stack: GitStack, workdir: Path, run_id: str) -> Iterator[compose.HeldConfig | None]:
    """`compose config` of the deploy to come, started before the fetch and held (see
    compose.Held), with the files and environment the working copy gives now. The
    deploy uses it only where the fetched files give the very same run (the common
    push: the files' contents changed, not which files there are nor the overrides);
    otherwise it ends unread. None for a first deploy or another engine than this one's."""
    project = None
    if not stack.environment.engine_endpoint().host and (workdir / ".git").is_dir() and compose.can_hold():
        try:
            project = _project(stack, workdir, run_id)
        except (DeployError, OSError):
            pass  # (the files as they are now are not a project: the fetch may change that)
    with ExitStack() as later:
        ahead = None
        if project is not None:
            try:
                env = compose.process_env(engine_env={}, extra=_overrides(stack)[1])
                ahead = later.enter_context(compose.held_config(project, env=env))
            except (OSError, compose.ComposeError):
                pass  # (a full disk, say): the deploy runs its own and says what fails
        yield ahead


def _override_path(run_id: str) -> Path:
    return settings.RUN_DIR / f"{run_id}-images.yaml"


def _with_images(
    stack: GitStack,
    inputs: _Inputs,
    model: dict[str, object],
    *,
    run_id: str,
    root: Path,
    pins: Mapping[str, images.Ran],
    commit: str,
) -> tuple[compose.ComposeProject, dict[str, object], dict[str, str]]:
    """The project with the generated image override (a rollback's digests, pushTo's
    names) after the stack's files, its model, and which service is pushed as what.
    The override lives in the run directory, never in the working copy."""
    pushed = images.push_names(model, stack.push_to, commit)
    override = images.image_override(model, pins, pushed)
    if not override:
        return inputs.project, model, pushed
    path = _override_path(run_id)
    write_private_json(path, override)
    project = dataclasses.replace(inputs.project, files=[*inputs.project.files, path])
    return project, _checked_model(stack, project, inputs.env, root=root), pushed


def write_private_json(path: Path, value: object) -> None:
    """A 0600 file (compose reads JSON as YAML)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(value, fh)


@contextmanager
def _registry_errors(references: list[str]) -> Iterator[None]:
    """A failed pull or push said as the registry's failure: which registry, and
    whether authentication, not found or unreachable."""
    try:
        yield
    except compose.ComposeCancelled:
        raise
    except compose.ComposeError as exc:
        failure = registry.pull_failure(str(exc), references)
        if failure is None:
            raise
        raise DeployError(str(failure)) from exc


def stack_config_hashes(
    stack: GitStack, workdir: Path, metadata: Mapping[str, str], run_id: str, *, project_root: Path
) -> dict[str, str]:
    """Per service, the config hash a deploy of the files in `workdir` (a temporary
    checkout) would give its containers. Relative paths resolve as they would in the
    real working copy `project_root`, so bind mounts do not count as changes."""
    with _compose_inputs(stack, workdir, metadata, run_id) as inputs:
        as_deployed = project_root / inputs.project.workdir.relative_to(workdir.resolve())
        project = dataclasses.replace(inputs.project, workdir=as_deployed)
        # Compose now reads what the -f files include or name from the real working
        # copy (which a failed sync may have left hostile), and the model's paths point
        # into it: both checked against it.
        repository_files = [f for f in project.files if not is_generated(f)]
        check_sources(project_root, repository_files, project_dir=as_deployed)
        _checked_model(stack, project, inputs.env, root=project_root)
        return compose.config_hashes(project, env=inputs.env)


def stack_model(*, stack: GitStack, workdir: Path, metadata: Mapping[str, str], run_id: str) -> dict[str, object]:
    """The resolved compose model a deploy of the checkout `workdir` would run, checked
    as the deploy checks it (it holds secret values: never store or show it)."""
    with _compose_inputs(stack, workdir, metadata, run_id) as inputs:
        return _checked_model(stack, inputs.project, inputs.env, root=workdir)


def _checked_model(
    stack: GitStack,
    project: compose.ComposeProject,
    env: Mapping[str, str],
    *,
    root: Path,
    ahead: compose.HeldConfig | None = None,
) -> dict[str, object]:
    model = compose.config(project, env=env, ahead=ahead)
    check_model(root, model)
    refuse_encrypted_env_files(model)
    environment = stack.environment
    check_policy(environment.policy, model, root=root, host_paths=environment.host_paths)
    return model


def stack_deploy(
    *,
    stack: GitStack,
    workdir: Path,
    metadata: Mapping[str, str],
    run_id: str,
    on_line: Callable[[str], None],
    stop: threading.Event | None = None,
    on_secrets: Callable[[list[str]], None] | None = None,
    pins: Mapping[str, images.Ran] | None = None,
    pull: Sequence[str] = (),
    ahead: compose.HeldConfig | None = None,
) -> Deployed:
    """Run `docker compose up` for a checked-out stack (spec §4 steps 5–7), then wait
    for its services to be healthy (when the stack's healthTimeout is not 0).

    `on_secrets` hears the values resolved from stores and encrypted files before
    compose runs (the output masks them). `pins`: per service, what a deployment ran
    (a rollback runs exactly those digests); `pull`: services whose tag has a newer
    digest, pulled first. Compose gets logins only for the registries its images are
    on (this environment's), in a DOCKER_CONFIG made for this run; a stack with
    `pushTo` pushes what it built. `ahead`: `stack_config_ahead`'s `config`."""
    pins = pins or {}
    options = compose.UpOptions(
        # Like `docker compose up -d`: an image that is missing is built anyway;
        # buildOnDeploy rebuilds every deploy so a changed Dockerfile takes effect.
        build=stack.build_on_deploy,
        no_cache=stack.no_build_cache,
        pull=stack.pull_policy,
        force_recreate=stack.force_recreate,
        timeout=stack.compose_timeout or settings.DEPLOY_TIMEOUT,
    )
    # `up` starts beside the checks when it is the one command to run with the files
    # as they are: no override file to add, nothing to pull or build before it.
    up_ahead = not (stack.environment.swarm or pins or stack.push_to or pull or options.no_cache)
    up_ahead = up_ahead and compose.can_hold()
    with _compose_inputs(stack, workdir, metadata, run_id) as inputs:
        if on_secrets is not None:
            on_secrets(inputs.resolved.values)
        with compose.held_up(inputs.project, env=inputs.env, options=options) if up_ahead else nullcontext() as held:
            model = _checked_model(stack, inputs.project, inputs.env, root=workdir, ahead=ahead)
            project, model, pushed = _with_images(
                stack, inputs, model, run_id=run_id, root=workdir, pins=pins, commit=metadata.get("GIT_COMMIT_SHA", "")
            )
            references = images.model_images(model)
            logins = stack_logins(stack, references)
            registry.docker_config_write(inputs.docker_config, logins)
            services = sorted(model.get("services") or {})  # type: ignore[call-overload]
            if stack.environment.swarm:
                with _registry_errors(references):
                    swarm.deploy(
                        stack.project_name,
                        model,
                        env=inputs.env,
                        pull=stack.pull_policy,
                        on_line=on_line,
                        timeout=options.timeout,
                        stop=stop,
                        registry_auth=bool(logins),
                    )
                return _after_swarm_deploy(stack, inputs, services, on_line, stop, model=model)
            with _registry_errors(references + list(pushed.values())):
                if held is not None:
                    held.go(registry.docker_config_json(logins), on_line=on_line, timeout=options.timeout, stop=stop)
                else:
                    _pull_then_up(project, inputs, [name for name in pull if name in services], options, on_line, stop)
                if pushed and not (stop and stop.is_set()):
                    on_line(f"Pushing {', '.join(pushed.values())}")
                    compose.push(
                        project, sorted(pushed), env=inputs.env, on_line=on_line, timeout=options.timeout, stop=stop
                    )
    if stop and stop.is_set():
        return Deployed(env_snapshot=_snapshot(inputs), config_hashes={}, model=model, secret_inputs=inputs.resolved)
    running = None
    if stack.health_timeout:
        running = wait_until_healthy(
            endpoint=inputs.endpoint,
            project=stack.project_name,
            services=services,
            timeout=stack.health_timeout,
            on_line=on_line,
            stop=stop,
        )
    if running is None:  # no health wait (or cancelled in it): ask once
        try:
            running = engine.project_containers(inputs.endpoint, stack.project_name)
        except engine.EngineError:
            running = []
    # The hash compose put on each container is what `config --hash` would say.
    return Deployed(
        env_snapshot=_snapshot(inputs),
        config_hashes={c.service: c.config_hash for c in running if c.config_hash},
        images=images.ran_images(inputs.endpoint, model, running, pins),
        model=model,
        secret_inputs=inputs.resolved,
        pushed=sorted(pushed.values()),
    )


def _pull_then_up(
    project: compose.ComposeProject,
    inputs: _Inputs,
    wanted: list[str],
    options: compose.UpOptions,
    on_line: Callable[[str], None],
    stop: threading.Event | None,
) -> None:
    if wanted:
        on_line(f"Pulling the newer images of {', '.join(wanted)}")
        compose.pull(project, wanted, env=inputs.env, on_line=on_line, timeout=options.timeout, stop=stop)
    compose.up(project, env=inputs.env, on_line=on_line, options=options, stop=stop)


def _snapshot(inputs: _Inputs) -> dict[str, str]:
    return {**inputs.plain, **{key: fingerprint(value) for key, value in inputs.secret.items()}}


def _after_swarm_deploy(
    stack: GitStack,
    inputs: _Inputs,
    services: list[str],
    on_line: Callable[[str], None],
    stop: threading.Event | None,
    *,
    model: dict[str, object],
) -> Deployed:
    """A swarm stack is healthy when every service runs its desired replicas."""
    if stack.health_timeout and not (stop and stop.is_set()):
        wait_until_converged(
            endpoint=inputs.endpoint,
            namespace=stack.project_name,
            services=services,
            timeout=stack.health_timeout,
            on_line=on_line,
            stop=stop,
        )
    # A swarm stack's services are what its status is checked against.
    return Deployed(
        env_snapshot=_snapshot(inputs),
        config_hashes=dict.fromkeys(services, "swarm"),
        model=model,
        secret_inputs=inputs.resolved,
    )
