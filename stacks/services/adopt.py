"""Adopt: a compose project started by hand (or by another tool) becomes a git stack of
the same project name, without recreating its containers.

What runs is compared with what the repository says, service by service, by compose's
own config hash: the `com.docker.compose.config-hash` label compose put on each
container against what `compose config --hash` gives for the repository's model (the
same comparison status makes after every deploy). When they all match, the stack is
recorded as deployed at the branch head, through an `adopt` deployment that ran
nothing; otherwise it is recorded as it runs, out of sync with the reasons, and its
next sync deploys the repository's model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from dockhand.audit import current_actor, record
from dockhand.errors import Conflict
from gitsync import git
from gitsync.services.auth import git_auth
from stacks import compose, engine
from stacks.engine import ContainerInfo
from stacks.models import Deployment, Environment, GitStack, Membership
from stacks.services.access import require
from stacks.services.deploy import git_metadata, stack_config_hashes
from stacks.services.deploy_errors import DeployError
from stacks.services.lock import operation_lock
from stacks.services.masked import SecretMask
from stacks.services.output import plain_text
from stacks.services.projects import ProjectManaged, ProjectMissing, environment_project
from stacks.services.revision import revision, stack_config
from stacks.services.stacks import EnvVarInput, RepositoryUrl, stack_create, stack_delete

ADOPTED_NOTE = "Adopted: the running containers are this commit's model; nothing was recreated."


@dataclass(frozen=True)
class Adoption:
    """The stack made of the project; `reasons` empty when what runs is the commit's model."""

    stack: GitStack
    commit: str
    reasons: list[str] = field(default_factory=list)
    deployment: Deployment | None = None

    @property
    def matched(self) -> bool:
        return not self.reasons


def model_differences(rendered: dict[str, str], containers: list[ContainerInfo]) -> list[str]:
    """Why the containers are not the rendered model, per service (empty: they are)."""
    running: dict[str, list[ContainerInfo]] = {}
    for container in containers:
        running.setdefault(container.service, []).append(container)
    reasons = []
    for service in sorted(set(rendered) | set(running)):
        if service not in running:
            reasons.append(f"service {service} is in the repository but has no container")
        elif service not in rendered:
            reasons.append(f"service {service} runs but is not in the repository's model")
        elif any(c.config_hash != rendered[service] for c in running[service]):
            reasons.append(f"service {service} runs another configuration than the repository's")
    return reasons


def project_adopt(
    *,
    environment: Environment,
    name: str,
    by: Any,
    fields: dict[str, Any],
    repository_url: RepositoryUrl | None = None,
    env_vars: list[EnvVarInput] | None = None,
) -> Adoption:
    """Make the unmanaged project `name` a git stack (`fields` as for stack_create; its
    project name is `name`). ProjectMissing, ProjectManaged, or the git, compose or
    engine error that stopped it (then no stack is left)."""
    require(by, environment.pk, Membership.Role.ADMIN)
    if environment.swarm:
        raise Conflict("Compose projects are adopted into compose environments; this one deploys to a swarm")
    project = environment_project(environment=environment, name=name)
    if project.stack is not None:
        raise ProjectManaged(f"Project {name!r} is already stack {project.stack.name}'s (id {project.stack.pk})")
    stack = stack_create(
        fields={**fields, "name": fields.get("name") or name, "environment": environment, "project_name": name},
        repository_url=repository_url,
        env_vars=env_vars,
    )
    try:
        with operation_lock(stack, settings.DEPLOY_TIMEOUT):  # a sync asked meanwhile waits for this
            commit, rendered = _rendered(stack)
            # Compared as found now, not as listed before the checkout.
            found = environment_project(environment=environment, name=name).containers
            reasons = model_differences(rendered, found)
            if reasons:  # recorded as it runs: status says out of sync, the diff what a sync recreates
                deployed = {c.service: c.config_hash for c in found}
                stack.record(remote_head=commit.sha, deployed_config_hashes=deployed)
            deployment = None if reasons else _recorded(stack, commit, rendered, found)
    except (git.GitError, compose.ComposeError, DeployError, engine.EngineError, ProjectMissing):
        stack_delete(stack=stack, remove_containers=False, remove_history=True)  # an adopt that fails leaves none
        raise
    record("project.adopt", stack, f"project {name} at {commit.sha[:12]}: " + ("; ".join(reasons) or "in sync"))
    return Adoption(stack, commit.sha, reasons, deployment)


def _rendered(stack: GitStack) -> tuple[git.Commit, dict[str, str]]:
    """The branch head, checked out as the stack's working copy, and the config hash
    per service a deploy of it would give."""
    workdir = settings.STACKS_DIR / str(stack.pk) / "repo"
    auth = git_auth(stack.repository.credential)
    with SecretMask.of(stack).errors():
        commit = git.checkout(workdir=workdir, url=stack.repository.url, branch=stack.branch, auth=auth)
        metadata = git_metadata(stack, commit)
        rendered = stack_config_hashes(stack, workdir, metadata, f"adopt-{stack.pk}", project_root=workdir)
    return commit, rendered


def _recorded(stack: GitStack, commit: git.Commit, rendered: dict[str, str], found: list[ContainerInfo]) -> Deployment:
    """What runs is the commit's model: the stack is deployed at it, as a deploy would
    have recorded it (an `adopt` deployment that ran nothing, the applied revision)."""
    config = stack_config(stack)
    deployment = Deployment.objects.create(
        stack=stack,
        trigger=Deployment.Trigger.ADOPT,
        requested_by=current_actor(),
        commit_sha=commit.sha,
        commit_message=plain_text(commit.message),
        commit_author=plain_text(commit.author),
        revision=revision(commit.sha, config),
        config=config,
        images={c.service: c.image_id for c in found},
    )
    deployment.start()
    deployment.finish(Deployment.Status.SUCCESS, deployed=True, note=ADOPTED_NOTE)
    stack.record(
        last_commit=commit.sha,
        remote_head=commit.sha,
        applied_config=config,
        deployed_config_hashes=rendered,
        sync_status=GitStack.SyncStatus.SUCCESS,
        last_sync=timezone.now(),
    )
    return deployment
