"""Where a stored credential may be sent, and from which environments.

One set of rules for the three moments a credential meets a URL: a stack or repository
saved with it (a 400 naming the field), the credential itself narrowed while in use
(a 400 naming its field), and git about to run (`git.py` refuses before connecting).
"""

from __future__ import annotations

from gitsync.models import Credential
from gitsync.remotes import Refusal, Scope

_KIND = {
    Credential.AuthType.SSH: "ssh",
    Credential.AuthType.PASSWORD: "http",
    Credential.AuthType.TOKEN: "http",
    Credential.AuthType.NONE: "",
}


def scope_of(credential: Credential) -> Scope:
    """The credential's scope as git.py checks it."""
    return Scope(
        credential=credential.name,
        prefixes=tuple(credential.url_prefixes),
        plain_http=credential.allow_plain_http,
        kind=_KIND[Credential.AuthType(credential.auth_type)],
    )


def credential_refusal(
    credential: Credential, *, url: str, environment: tuple[int, str] | None = None
) -> Refusal | None:
    """Why `credential` may not be sent to `url` for a stack of `environment` (id,
    name), or None. Without an environment only the URL is checked."""
    if environment is not None and not credential.allows_environment(environment[0]):
        return Refusal(
            "environmentIds",
            f"credential {credential.name!r} may not be used in environment {environment[1]!r}"
            " (it is limited to other environments)",
        )
    return scope_of(credential).refusal(url)


def credential_stranded(credential: Credential) -> Refusal | None:
    """With `credential` changed but not yet saved: a repository that uses it, or a
    stack of an environment, that it would no longer serve. Narrowing a credential in
    use is refused, like deleting it: move those first."""
    for repository in credential.repositories.all():
        refusal = credential_refusal(credential, url=repository.url)
        environments = repository.stacks.values_list("environment_id", "environment__name").distinct()
        for environment in environments:
            refusal = refusal or credential_refusal(credential, url=repository.url, environment=environment)
        if refusal is not None:
            return Refusal(refusal.field, f"repository {repository.name!r} uses this credential: {refusal.message}")
    return None


def credential_for_url(url: str, *, environment: tuple[int, str]) -> Credential | None:
    """The stored credential that may be sent to `url` from `environment`, the one with
    the longest URL prefix when several may; None when none may (the remote is then
    asked without one)."""
    allowed = [
        credential
        for credential in Credential.objects.exclude(auth_type=Credential.AuthType.NONE)
        if credential.url_prefixes and credential_refusal(credential, url=url, environment=environment) is None
    ]
    return max(allowed, key=lambda c: (max(len(p) for p in c.url_prefixes), -c.pk), default=None)
