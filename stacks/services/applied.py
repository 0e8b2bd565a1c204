"""What runs for a stack, shown beside what its repository says: the compose model
its last successful deploy resolved (recorded by the runner, secrets masked) and its
compose files as they are at the applied commit, read from its working copy.

Read-only: nothing is fetched or checked out for a page. The working copy is where the
last sync left it, so the files are shown only while it is at the applied commit (a
sync that failed after its checkout leaves it at a commit that is not running)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from dockhand.masking import mask
from gitsync import git
from stacks.models import Deployment, GitStack
from stacks.services.deploy import confined, stack_secrets
from stacks.services.deploy_errors import DeployError
from stacks.services.output import plain_text

# A page shows this much of a file; a longer one is cut (compose reads up to 1 MiB).
MAX_SHOWN_BYTES = 256 * 1024


@dataclass(frozen=True)
class ShownFile:
    """One compose file of the repository: its text, or why it is not shown."""

    path: str
    text: str = ""
    cut: bool = False
    problem: str = ""


@dataclass(frozen=True)
class Applied:
    """The last successful deploy (None: never deployed) and the compose files of the
    commit it applied; `note` says why no file is shown."""

    deployment: Deployment | None
    files: list[ShownFile] = field(default_factory=list)
    note: str = ""


def stack_applied(*, stack: GitStack) -> Applied:
    deployment = Deployment.applied_of(stack)
    if deployment is None or not stack.last_commit:
        return Applied(deployment)
    workdir = settings.STACKS_DIR / str(stack.pk) / "repo"
    at = git.checked_out(workdir)
    if at is None:
        return Applied(deployment, note="There is no working copy on this server: the next sync makes one.")
    if at != stack.last_commit:
        return Applied(
            deployment,
            note=f"The working copy is at {at[:12]} now, not at the applied {stack.last_commit[:12]} "
            "(a later sync did not finish): its files are not shown.",
        )
    secrets = stack_secrets(stack)
    paths = [("composePath", stack.compose_path)]
    paths += [(f"additionalComposeFiles[{i}]", p) for i, p in enumerate(stack.additional_compose_files)]
    return Applied(deployment, [_shown(workdir, path, what, secrets) for what, path in paths])


def _shown(workdir: Path, path: str, what: str, secrets: list[str]) -> ShownFile:
    """The file as a deploy would read it: confined to the working copy, size-checked."""
    try:
        target = confined(workdir, path, what)
        with target.open("rb") as fh:
            data = fh.read(MAX_SHOWN_BYTES + 1)
    except DeployError as exc:
        return ShownFile(path, problem=str(exc))
    except OSError as exc:
        return ShownFile(path, problem=f"{path} cannot be read: {exc.strerror}")
    text = plain_text(data[:MAX_SHOWN_BYTES].decode("utf-8", errors="replace"))
    return ShownFile(path, text=mask(text, secrets), cut=len(data) > MAX_SHOWN_BYTES)
