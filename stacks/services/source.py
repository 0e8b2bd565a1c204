"""Before a stack is saved: does its repository answer, with its credential, and hold its
branch and files? Asked of the remote itself (one `ls-remote`, then one shallow listing
without file contents), so that a wrong URL, branch or path is refused when the stack is
created, naming what is there instead, rather than at its first sync.

The API refuses by default (`?check=false` or `skipSourceCheck` skip it, for a repository
that is not reachable yet); the stack form asks the same function as the user types.
"""

from __future__ import annotations

import dataclasses
import posixpath
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch

from django.conf import settings

from gitsync import git
from gitsync.models import Credential
from gitsync.services.auth import git_auth
from gitsync.services.scope import credential_refusal
from stacks.models import Environment

# How many branch or file names a message lists (the rest are counted).
NAMED = 20
COMPOSE_NAMES = ("compose*.yaml", "compose*.yml", "docker-compose*.yaml", "docker-compose*.yml")
ENV_NAMES = (".env", ".env.*", "*.env")


@dataclass(frozen=True)
class StackSource:
    """Where a stack's files come from: what `stack_source_check` asks the remote about.
    `url_field` is the field that chose the repository (`url`, or `repositoryId`)."""

    url: str
    credential: Credential | None
    branch: str
    compose_path: str
    env_file_path: str = ""
    additional_compose_files: tuple[str, ...] = ()
    url_field: str = "url"


@dataclass(frozen=True)
class SourceReport:
    """What the remote said about `branch` of the repository chosen by `url_field`.
    `problems` maps a field to plain words (empty: all there); `listed` says whether
    the branch's files were read."""

    branch: str = ""
    url_field: str = "url"
    branches: tuple[str, ...] = ()
    default_branch: str | None = None
    head: str = ""
    compose_files: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    listed: bool = False
    note: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    answered: bool = False  # the remote listed its branches


def stack_source_check(*, source: StackSource, environment: Environment | None = None) -> SourceReport:
    """Ask the remote whether `source` is there: the URL answers, the credential is
    accepted (and may be used from `environment`), the branch exists, and the compose
    file, env file and additional compose files are on it. Never raises for a problem:
    each is reported under its field, with what the remote has instead."""
    credential = source.credential
    asked = SourceReport(branch=source.branch, url_field=source.url_field)
    if credential is not None and environment is not None:
        refusal = credential_refusal(credential, url=source.url, environment=(environment.pk, environment.name))
        if refusal is not None:
            # (A repository chosen by id carries its credential: the choice is that field's.)
            field = "credentialId" if source.url_field == "url" else source.url_field
            return dataclasses.replace(asked, problems={field: refusal.message})
    with _auth(credential) as auth:
        try:
            branches = git.remote_branches(url=source.url, auth=auth)
        except git.GitError as exc:
            return dataclasses.replace(asked, problems={source.url_field: _unanswered(exc, source)})
        names = tuple(branches.names)
        found = dataclasses.replace(asked, branches=names, default_branch=branches.default, answered=True)
        if source.branch not in branches.heads:
            return dataclasses.replace(found, problems={"branch": _no_branch(source.branch, names)})
        found = dataclasses.replace(found, head=branches.heads[source.branch])
        try:
            files = git.branch_files(url=source.url, branch=source.branch, auth=auth)
        except git.BranchMissing:  # deleted since the branches were listed
            others = [name for name in names if name != source.branch]
            return dataclasses.replace(found, head="", problems={"branch": _no_branch(source.branch, others)})
        except git.ListingTooLarge as exc:
            # Too big to list here: the paths are checked by the first sync instead.
            return dataclasses.replace(found, note=f"{exc}: the paths are checked at the first sync")
        except git.GitError as exc:
            return dataclasses.replace(found, problems={source.url_field: _unanswered(exc, source)})
    return _paths_checked(found, source, files)


def _paths_checked(found: SourceReport, source: StackSource, files: list[str]) -> SourceReport:
    present = set(files)
    compose_files = tuple(_sorted(p for p in files if _named(p, COMPOSE_NAMES)))
    env_files = tuple(_sorted(p for p in files if _named(p, ENV_NAMES)))
    problems: dict[str, str] = {}
    if _normal(source.compose_path) not in present:
        problems["composePath"] = _no_file(source.compose_path, source.branch, "compose files", compose_files)
    if source.env_file_path and _normal(source.env_file_path) not in present:
        problems["envFilePath"] = _no_file(source.env_file_path, source.branch, "env files", env_files)
    missing = [path for path in source.additional_compose_files if _normal(path) not in present]
    if missing:
        problems["additionalComposeFiles"] = _no_file(missing[0], source.branch, "compose files", compose_files)
    return dataclasses.replace(found, compose_files=compose_files, env_files=env_files, listed=True, problems=problems)


@contextmanager
def _auth(credential: Credential | None) -> Iterator[git.GitAuth | None]:
    """The credential's GitAuth. One not saved yet (made inline on the stack form) learns
    an SSH host key into a throwaway file: it is kept once the credential exists."""
    auth = git_auth(credential)
    if auth is None or credential is None or credential.pk is not None or auth.learned_hosts_file is None:
        yield auth
        return
    learned = settings.RUN_DIR / f"known-hosts-check-{uuid.uuid4().hex}"
    try:
        yield dataclasses.replace(auth, learned_hosts_file=learned)
    finally:
        learned.unlink(missing_ok=True)


def _unanswered(exc: git.GitError, source: StackSource) -> str:
    """Plain words for a remote that could not be read, naming what to change."""
    if isinstance(exc, git.AuthFailed):
        if source.credential is None:
            return f"authentication failed: {source.url} needs a credential (none was chosen)"
        return f"authentication failed with credential {source.credential.name!r}: {exc.detail}"
    if isinstance(exc, git.RepositoryMissing):
        return f"no git repository at {source.url} (a private one needs a credential that may read it)"
    if exc.unreachable:
        return f"the remote did not answer: {exc.detail}"
    return f"the remote could not be read: {exc.detail}"


def _no_branch(branch: str, names: Sequence[str]) -> str:
    if not names:
        return f"no branch {branch!r}: the repository has no branches yet (push one first)"
    return f"no branch {branch!r}; the remote has: {_listed(names)}"


def _no_file(path: str, branch: str, kind: str, found: Sequence[str]) -> str:
    folder = posixpath.dirname(_normal(path))
    where = f"at the root of {branch}" if not folder else f"in {branch}"
    if not found:
        return f"no {path} {where}; {branch} has no {kind}"
    return f"no {path} {where}; {kind} found: {_listed(found)}"


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMED])
    return shown if len(names) <= NAMED else f"{shown} and {len(names) - NAMED} more"


def _normal(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/")).lstrip("/")


def _named(path: str, patterns: Sequence[str]) -> bool:
    name = posixpath.basename(path).lower()
    return any(fnmatch(name, pattern) for pattern in patterns)


def _sorted(paths: Iterator[str] | list[str]) -> list[str]:
    """Shallow first (the root's files are the likely ones), then by name."""
    return sorted(paths, key=lambda p: (p.count("/"), p))
