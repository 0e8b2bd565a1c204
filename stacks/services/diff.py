"""What a sync would change, between what runs and what a sync would run: the files
between the deployed commit and the branch head (with the line diff of each compose
and env file, secret values masked), the overrides and options changed since the last
deploy, and the services whose rendered compose config would differ."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings

from dockhand.masking import mask
from gitsync import git
from gitsync.services.auth import git_auth
from stacks import compose
from stacks.models import GitStack
from stacks.services.deploy import git_metadata, stack_config_hashes, stack_secrets
from stacks.services.deploy_errors import DeployError
from stacks.services.revision import config_diff, stack_config

MAX_FILE_DIFFS = 20  # a push that touched hundreds of files shows the list, not every diff


def _is_compose_or_env(stack: GitStack, path: str) -> bool:
    """Files that decide what runs: the stack's compose and env files, and any YAML or
    dotenv file (an `include`d or `env_file` one) beside them."""
    named = {stack.compose_path, stack.env_file_path, *stack.additional_compose_files}
    name = PurePosixPath(path).name
    return path in named or name.endswith((".yml", ".yaml", ".env")) or name.startswith(".env")


def stack_diff(*, stack: GitStack) -> dict[str, Any]:
    """Raises git.GitError when the remote cannot be asked."""
    repository = stack.repository
    workdir = settings.STACKS_DIR / str(stack.pk) / "repo"
    auth = git_auth(repository.credential)
    head, files = git.branch_changes(
        workdir=workdir, url=repository.url, branch=stack.branch, auth=auth, base=stack.last_commit
    )
    shown = [path for status, path in files if _is_compose_or_env(stack, path)][:MAX_FILE_DIFFS]
    diffs = (
        git.file_diffs(workdir=workdir, base=stack.last_commit, head=head.sha, paths=shown)
        if stack.last_commit and shown
        else {}
    )
    services, problem = _services(stack, workdir, head)
    # After _services, which resolved the stores and encrypted files: their HMACs, values to mask.
    config = config_diff(stack.applied_config, stack_config(stack))
    secrets = stack_secrets(stack)
    if problem:  # compose quotes interpolated values in its errors: a secret among them
        problem = mask(problem, secrets)
    return {
        "from": stack.last_commit or None,
        "to": head.sha,
        "commitMessage": head.message,
        "files": [
            {"status": status, "path": path, "diff": mask(diffs[path], secrets) if path in diffs else None}
            for status, path in files
        ],
        "overrides": {
            "added": config.added,
            "changed": config.changed,
            "removed": config.removed,
            "secrets": sorted(config.secrets),
            "secretInputs": config.secret_inputs,  # rotated in a store or re-encrypted: keys only
        },
        "options": [{"name": name, "from": was, "to": now} for name, was, now in config.options],
        "services": services,
        "servicesError": problem,
    }


def _services(stack: GitStack, workdir: Any, head: git.Commit) -> tuple[list[str] | None, str | None]:
    """The services a sync would recreate: those whose rendered config (the branch head
    with today's overrides and options) differs from what the last deploy rendered."""
    metadata = git_metadata(stack, head)
    try:
        with git.tree_of(workdir, head.sha) as tree:
            rendered = stack_config_hashes(
                stack, tree, metadata, run_id=f"diff-{uuid.uuid4().hex}", project_root=workdir
            )
    except (git.GitError, compose.ComposeError, DeployError) as exc:
        return None, str(exc)
    deployed = stack.deployed_config_hashes
    return sorted(s for s in set(rendered) | set(deployed) if rendered.get(s) != deployed.get(s)), None
