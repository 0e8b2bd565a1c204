"""Turning a stored Credential into what the git module needs."""

from __future__ import annotations

from django.conf import settings

from gitsync.git import GitAuth
from gitsync.models import Credential
from gitsync.services.scope import scope_of


def git_auth(credential: Credential | None) -> GitAuth | None:
    """GitAuth for a credential (None for public repositories). It carries the
    credential's scope: git.py sends the secret to no URL outside it."""
    if credential is None or credential.auth_type == Credential.AuthType.NONE:
        return None
    secrets = tuple(credential.secret_values())
    scope = scope_of(credential)
    if credential.auth_type == Credential.AuthType.SSH:
        return GitAuth(
            secret=credential.ssh_passphrase,
            ssh_private_key=credential.ssh_private_key,
            known_hosts=credential.ssh_known_hosts,
            learned_hosts_file=settings.DATA_DIR / "known_hosts" / f"credential-{credential.pk}",
            secrets=secrets,
            scope=scope,
        )
    if credential.auth_type == Credential.AuthType.TOKEN:
        # GitHub wants this user name with a token; GitLab and Gitea accept any.
        return GitAuth(
            username=credential.username or "x-access-token", secret=credential.token, secrets=secrets, scope=scope
        )
    return GitAuth(username=credential.username, secret=credential.password, secrets=secrets, scope=scope)
