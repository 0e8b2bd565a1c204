"""Which forge a token may be used with: one rule for a repository's commit statuses
(saved and posted) and for browsing a forge from the stack form."""

from __future__ import annotations

from gitsync import forge
from gitsync.models import Credential, Repository
from gitsync.services.scope import credential_refusal


class ForgeRefused(ValueError):
    """The forge cannot be used so; `field` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def forge_client(
    kind: str,
    *,
    api_url: str,
    credential: Credential | None,
    url_field: str = "forgeApiUrl",
    credential_field: str = "forgeCredentialId",
) -> forge.Forge:
    """The forge's API (GitHub's and GitLab's public one unless given) opened with a
    token credential whose URL prefixes hold that API; ForgeRefused naming the field."""
    try:
        url = forge.api_url_for(kind, api_url)
        forge.Forge(kind=kind, api_url=url, token="")  # (checks the kind and the scheme)
    except forge.ForgeError as exc:
        raise ForgeRefused(url_field, str(exc)) from exc
    if credential is None or credential.auth_type != Credential.AuthType.TOKEN or not credential.token:
        raise ForgeRefused(credential_field, "must be a token credential for the forge's API")
    refusal = credential_refusal(credential, url=url + "/")
    if refusal is not None:
        raise ForgeRefused(credential_field, refusal.message)
    return forge.Forge(kind=kind, api_url=url, token=credential.token)


def repository_forge(repository: Repository) -> forge.Forge | None:
    """The forge a repository's commit statuses go to; None when it names none.
    ForgeRefused when it names one its token may not be sent to."""
    if not repository.forge or not repository.forge_repo:
        return None
    return forge_client(repository.forge, api_url=repository.forge_api_url, credential=repository.forge_credential)
