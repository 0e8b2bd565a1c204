"""Credentials and repositories: validation and saving shared by the API and the pages."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.db import transaction

from dockhand.audit import record
from dockhand.errors import InUse
from gitsync import git
from gitsync.models import Credential, Repository
from gitsync.services.auth import git_auth

_SECRET_FIELDS = {
    Credential.AuthType.PASSWORD: ("password",),
    Credential.AuthType.TOKEN: ("token",),
    Credential.AuthType.SSH: ("ssh_private_key", "ssh_passphrase"),
    Credential.AuthType.AGE: ("age_key",),
    Credential.AuthType.NONE: (),
}
_SECRETS = ("password", "token", "ssh_private_key", "ssh_passphrase", "age_key")


def repository_name_from_url(url: str) -> str:
    """A readable default name: the last path segment without `.git`."""
    tail = re.split(r"[/:]", url.rstrip("/"))[-1]
    return tail.removesuffix(".git") or url


def credential_save(*, credential: Credential | None, fields: dict[str, Any]) -> Credential:
    """Create or update a credential. Secret fields left out or empty keep their value;
    switching the auth type clears the secrets the new type does not use."""
    created = credential is None
    credential = credential or Credential()
    changed_secrets = sorted(n for n in _SECRETS if fields.get(n))
    for name, value in fields.items():
        if name in _SECRETS and not value:
            continue
        setattr(credential, name, value)
    keep = set(_SECRET_FIELDS[Credential.AuthType(credential.auth_type)])
    for name in _SECRETS:
        if name not in keep:
            setattr(credential, name, "")
    credential.save()
    # Which secrets changed, never their values; where it may go, whenever that changed.
    detail = f"authType={credential.auth_type} secrets set: {', '.join(changed_secrets) or 'none'}"
    if created or {"url_prefixes", "environment_ids", "allow_plain_http"} & fields.keys():
        detail += (
            f" urlPrefixes={' '.join(credential.url_prefixes) or 'none'}"
            f" environmentIds={','.join(map(str, credential.environment_ids)) or 'all'}"
            f" allowPlainHttp={credential.allow_plain_http}"
        )
    record("credential.create" if created else "credential.update", credential, detail)
    return credential


def credential_delete(*, credential: Credential) -> None:
    names = list(credential.repositories.values_list("name", flat=True)[:5])
    names += list(credential.forge_repositories.values_list("name", flat=True)[:5])
    if names:
        raise InUse(f"Credential is used by repositories: {', '.join(names)}")
    # (The stacks that decrypt with an age key hold it by a reverse relation: no import.)
    decrypting = list(credential.sops_stacks.values_list("name", flat=True)[:5])
    if decrypting:
        raise InUse(f"Credential decrypts the SOPS files of stacks: {', '.join(decrypting)}")
    record("credential.delete", credential)
    credential.delete()


def repository_save(*, repository: Repository | None, fields: dict[str, Any]) -> Repository:
    """Create or update a repository."""
    created = repository is None
    repository = repository or Repository()
    for name, value in fields.items():
        setattr(repository, name, value)
    if not repository.name:
        repository.name = repository_name_from_url(repository.url)
    if not repository.webhook_secret:
        repository.webhook_secret = secrets.token_hex(24)
    repository.save()
    detail = f"url={repository.url} branch={repository.branch}" if created else "changed: " + ", ".join(sorted(fields))
    record("repository.create" if created else "repository.update", repository, detail)
    return repository


def repository_for_url(*, url: str, branch: str, credential: Credential | None) -> Repository:
    """The repository with this URL and credential, created when there is none."""
    with transaction.atomic():
        found = Repository.objects.filter(url=url, credential=credential).first()
        if found:
            return found
        return repository_save(
            repository=None, fields={"url": url, "branch": branch or "main", "credential": credential}
        )


def repository_delete(*, repository: Repository) -> None:
    names = list(repository.stacks.values_list("name", flat=True)[:5])
    if names:
        raise InUse(f"Repository is used by stacks: {', '.join(names)}")
    record("repository.delete", repository)
    repository.delete()


def repository_test(*, repository: Repository) -> tuple[bool, str]:
    """Whether the branch is reachable with the repository's credential, and what git said."""
    try:
        head = git.remote_head(url=repository.url, branch=repository.branch, auth=git_auth(repository.credential))
    except git.GitError as exc:
        return False, str(exc)
    return True, f"Branch {repository.branch!r} is reachable; its head is {head[:12]}"
