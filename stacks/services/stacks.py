"""Creating, changing and deleting git stacks (shared by the API and the pages)."""

from __future__ import annotations

import logging
import secrets
import shutil
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from dockhand.audit import record
from dockhand.errors import Conflict
from gitsync.models import Credential, Repository
from gitsync.services.repositories import repository_for_url
from stacks import compose, engine, swarm
from stacks.models import Deployment, Environment, GitStack, StackEnvVar, default_project_name
from stacks.services.lock import Holder, lock_for_deletion, lock_release
from stacks.services.masked import SecretMask
from stacks.services.schedules import stack_schedule_apply
from stacks.services.status import stack_workloads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnvVarInput:
    """One override as submitted; a secret with value None keeps its stored value; one
    with a `secret_ref` is read from a store at deploy time and stores no value."""

    key: str
    value: str | None
    is_secret: bool
    secret_ref: str = ""


@dataclass(frozen=True)
class RepositoryUrl:
    """A repository given by URL (and credential) instead of by id: the one there is,
    or a new one, made in the transaction that saves the stack."""

    url: str
    credential: Credential | None


def stack_queryset() -> QuerySet[GitStack]:
    """Stacks with what every listing shows: environment, repository and overrides
    (fetched with the list, so a list costs no query per stack)."""
    return GitStack.objects.select_related("environment", "repository").prefetch_related("env_vars")


def local_environment() -> Environment:
    """The built-in `local` environment (created by the first migration)."""
    env, _ = Environment.objects.get_or_create(name="local")
    return env


def new_webhook_secret() -> str:
    return secrets.token_hex(24)


def _replace_env_vars(stack: GitStack, env_vars: list[EnvVarInput]) -> None:
    existing = {v.key: v for v in stack.env_vars.all()}
    keep: list[str] = []
    for item in env_vars:
        keep.append(item.key)
        current = existing.get(item.key)
        value = item.value
        if item.secret_ref:
            value = ""  # the store holds it
        elif value is None:
            # Write-only secrets: leaving the value out keeps what is stored.
            kept = current is not None and current.is_secret and item.is_secret and not current.secret_ref
            value = current.value if current is not None and kept else ""
        if current:
            current.value, current.is_secret, current.secret_ref = value, item.is_secret, item.secret_ref
            current.save(update_fields=["value", "is_secret", "secret_ref"])
        else:
            StackEnvVar.objects.create(
                stack=stack, key=item.key, value=value, is_secret=item.is_secret, secret_ref=item.secret_ref
            )
    stack.env_vars.exclude(key__in=keep).delete()


def _repository(given: RepositoryUrl, *, branch: str) -> Repository:
    return repository_for_url(url=given.url, branch=branch, credential=given.credential)


def stack_create(
    *,
    fields: dict[str, Any],
    repository_url: RepositoryUrl | None = None,
    env_vars: list[EnvVarInput] | None = None,
) -> GitStack:
    """Create a stack; the compose project name and webhook secret get defaults, and a
    stack given no branch follows its repository's. A repository given by URL is made
    with the stack: a create that fails leaves none behind."""
    with transaction.atomic():
        stack = GitStack(**fields)
        if repository_url is not None:
            stack.repository = _repository(repository_url, branch=fields.get("branch", "main"))
        if "branch" not in fields:
            stack.branch = stack.repository.branch
        if not stack.environment_id:
            stack.environment = local_environment()
        if not stack.project_name:
            stack.project_name = default_project_name(stack.name)
        if not stack.webhook_secret:
            stack.webhook_secret = new_webhook_secret()
        stack.save()
        if env_vars:
            _replace_env_vars(stack, env_vars)
        stack_schedule_apply(stack=stack)
        record(
            "stack.create",
            stack,
            f"repository={stack.repository.url} branch={stack.branch} compose={stack.compose_path}",
        )
    return stack


def stack_update(
    *,
    stack: GitStack,
    fields: dict[str, Any],
    repository_url: RepositoryUrl | None = None,
    env_vars: list[EnvVarInput] | None = None,
) -> GitStack:
    """Change a stack's settings; `env_vars`, when given, replaces the whole set. A
    repository given by URL is made with the change, in its transaction. Conflict when
    it would move to another environment while it still runs on its engine."""
    moving = "environment" in fields and fields["environment"].pk != stack.environment_id
    if moving and _still_runs(stack):
        raise Conflict(
            f"The stack still runs in {stack.environment.name}: take it down there first, then move it"
            " (moving it would leave its containers running on that engine)"
        )
    with transaction.atomic():
        if repository_url is not None:
            fields = {**fields, "repository": _repository(repository_url, branch=fields.get("branch", "main"))}
        for name, value in fields.items():
            setattr(stack, name, value)
        if "webhook_secret" in fields and not stack.webhook_secret:
            stack.webhook_secret = new_webhook_secret()
        # Only what was changed: the row also holds the lock and what a sync applied,
        # which a sync may have moved since this copy was read.
        stack.save(update_fields=[*fields, "updated_at"])
        if env_vars is not None:
            _replace_env_vars(stack, env_vars)
        stack_schedule_apply(stack=stack, cron_changed="auto_update_cron" in fields)
        changed = sorted(fields) + ([f"envVars({', '.join(v.key for v in env_vars)})"] if env_vars is not None else [])
        record("stack.update", stack, "changed: " + (", ".join(changed) or "nothing"))
    return stack


def _still_runs(stack: GitStack) -> bool:
    try:
        return bool(stack_workloads(stack))
    except engine.EngineError:
        return False  # an engine that cannot be asked runs nothing dockhand can reach


def stack_delete(*, stack: GitStack, remove_containers: bool, remove_history: bool = False) -> str:
    """Delete a stack (and, by default, its containers); returns compose's output.

    Its deployments stay, under the stack's name, unless `remove_history` says they go
    too. Refused while a sync holds the stack, so a deploy cannot resurrect what was removed.
    """
    lock_for_deletion(stack)  # for good: the row goes away below, with the lock
    lines: list[str] = []  # compose names the containers: masked before they are shown
    masked = SecretMask.of(stack)
    if remove_containers:
        try:
            with masked.errors(), engine.cli_env(stack.environment.engine_endpoint()) as engine_env:
                env = compose.process_env(engine_env=engine_env)
                remove = swarm.remove if stack.environment.swarm else compose.down
                remove(stack.project_name, env=env, on_line=lines.append, timeout=settings.DEPLOY_TIMEOUT)
        except compose.ComposeError:
            lock_release(stack, Holder.DELETION)
            raise
    stack_dir = settings.STACKS_DIR / str(stack.pk)
    with transaction.atomic():
        record("stack.delete", stack, f"removeContainers={remove_containers} removeHistory={remove_history}")
        Deployment.cancel_pending_approvals(stack, error="The stack was deleted")
        history = Deployment.objects.filter(stack=stack)
        if remove_history:
            history.delete()
        else:
            history.update(stack_name=stack.name)
        stack.delete()
    shutil.rmtree(stack_dir, ignore_errors=True)
    return masked.text("\n".join(lines))
