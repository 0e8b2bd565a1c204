"""What a sync would change: the files between the deployed commit and the branch head,
and the services whose rendered compose config would differ."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings

from gitsync import git
from gitsync.services.auth import git_auth
from stacks import compose
from stacks.models import GitStack
from stacks.services.deploy import stack_config_hashes
from stacks.services.deploy_errors import DeployError


def stack_diff(*, stack: GitStack) -> dict[str, Any]:
    """Raises git.GitError when the remote cannot be asked."""
    repository = stack.repository
    workdir = settings.STACKS_DIR / str(stack.pk) / "repo"
    head, files = git.branch_changes(
        workdir=workdir,
        url=repository.url,
        branch=stack.branch,
        auth=git_auth(repository.credential),
        base=stack.last_commit,
    )
    services: list[str] | None = None
    problem = None
    metadata = {
        "GIT_REPO": repository.url,
        "GIT_BRANCH": stack.branch,
        "GIT_COMMIT_SHA": head.sha,
        "GIT_COMMIT_MESSAGE": head.message,
        "GIT_COMMIT_AUTHOR": head.author,
    }
    try:
        with git.tree_of(workdir, head.sha) as tree:
            rendered = stack_config_hashes(
                stack, tree, metadata, run_id=f"diff-{uuid.uuid4().hex}", project_root=workdir
            )
    except (git.GitError, compose.ComposeError, DeployError) as exc:
        problem = str(exc)
    else:
        deployed = stack.deployed_config_hashes
        services = sorted(s for s in set(rendered) | set(deployed) if rendered.get(s) != deployed.get(s))
    return {
        "from": stack.last_commit or None,
        "to": head.sha,
        "commitMessage": head.message,
        "files": [{"status": status, "path": path} for status, path in files],
        "services": services,
        "servicesError": problem,
    }
