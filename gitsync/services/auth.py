"""Turning a stored Credential into what the git module needs."""

from __future__ import annotations

from django.conf import settings

from gitsync.git import GitAuth
from gitsync.models import Credential


def git_auth(credential: Credential | None) -> GitAuth | None:
    """GitAuth for a credential (None for public repositories)."""
    if credential is None or credential.auth_type == Credential.AuthType.NONE:
        return None
    secrets = tuple(credential.secret_values())
    if credential.auth_type == Credential.AuthType.SSH:
        return GitAuth(
            secret=credential.ssh_passphrase,
            ssh_private_key=credential.ssh_private_key,
            known_hosts=credential.ssh_known_hosts,
            learned_hosts_file=settings.DATA_DIR / "known_hosts" / f"credential-{credential.pk}",
            secrets=secrets,
        )
    if credential.auth_type == Credential.AuthType.TOKEN:
        # GitHub wants this user name with a token; GitLab and Gitea accept any.
        return GitAuth(username=credential.username or "x-access-token", secret=credential.token, secrets=secrets)
    return GitAuth(username=credential.username, secret=credential.password, secrets=secrets)
