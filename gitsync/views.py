"""Dashboard pages for credentials and repositories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from dockhand.forms import checkbox, lines, optional_id
from dockhand.pages import Resource
from gitsync.api.serializers import CredentialSerializer, RepositorySerializer
from gitsync.models import Credential, Forge, Repository
from gitsync.services.repositories import (
    credential_delete,
    credential_save,
    repository_delete,
    repository_save,
    repository_test,
)
from gitsync.services.visibility import ReachOf, repositories_visible

_SECRET_INPUTS = ("password", "token", "sshPrivateKey", "sshPassphrase", "ageKey")
# The credential form's choices, as a person names them, the usual one first.
AUTH_TYPES = [
    (Credential.AuthType.TOKEN, "Access token (HTTPS)"),
    (Credential.AuthType.PASSWORD, "Username and password (HTTPS)"),
    (Credential.AuthType.SSH, "SSH key"),
    (Credential.AuthType.AGE, "age key (decrypts SOPS files)"),
    (Credential.AuthType.NONE, "None (a public repository)"),
]
FORGE_CHOICES = [("", "None"), *Forge.choices]
# Environment (id, name) pairs, listed by stacks and handed in by the wiring.
EnvironmentChoices = Callable[[], list[tuple[int, str]]]


def _credential_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {k: post.get(k, "") for k in ("name", "authType", "username", "sshKnownHosts")}
    # Secret inputs are never pre-filled; an empty one means "keep what is stored".
    data.update({k: post[k] for k in _SECRET_INPUTS if post.get(k)})
    prefixes = lines(post, "urlPrefixes")
    if prefixes:  # left empty on an edit: keep them (a credential always has some)
        data["urlPrefixes"] = prefixes
    # Ticked boxes; none ticked means every environment.
    data["environmentIds"] = [int(v) if v.isdigit() else v for v in post.getlist("environmentIds")]
    data["allowPlainHttp"] = checkbox(post, "allowPlainHttp")
    return data


def _repository_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {
        k: post.get(k, "").strip() for k in ("name", "url", "branch", "forge", "forgeApiUrl", "forgeRepo")
    }
    data["credentialId"] = optional_id(post, "credentialId")
    data["forgeCredentialId"] = optional_id(post, "forgeCredentialId")
    return data


def credential_pages(*, environments: EnvironmentChoices) -> Resource:
    """The credential pages; `environments` lists the choices for `environmentIds`."""
    return Resource(
        name="credential",
        plural="credentials",
        app="gitsync",
        model=Credential,
        serializer=CredentialSerializer,
        data=_credential_data,
        save=lambda instance, fields: credential_save(credential=instance, fields=fields),
        delete=lambda instance: credential_delete(credential=instance),
        page_context=lambda request: {"auth_types": AUTH_TYPES, "environments": environments()},
        defaults={"authType": "token"},
    )


def repository_pages(*, reach_of: ReachOf) -> Resource:
    """The repository pages, showing what `reach_of` says the caller may see."""
    return Resource(
        name="repository",
        plural="repositories",
        app="gitsync",
        model=Repository,
        serializer=RepositorySerializer,
        data=_repository_data,
        save=lambda instance, fields: repository_save(repository=instance, fields=fields),
        delete=lambda instance: repository_delete(repository=instance),
        page_context=lambda request: {
            "credentials": Credential.objects.exclude(auth_type=Credential.AuthType.AGE),
            "forges": FORGE_CHOICES,
        },
        defaults={"branch": "main"},
        visible=lambda request: repositories_visible(reach_of(request)),
    )


@login_required
@require_POST
def repository_test_view(request: HttpRequest, pk: int, reach_of: ReachOf) -> HttpResponse:
    """HTMX: try the branch with the repository's credential; say what happened."""
    repository = get_object_or_404(repositories_visible(reach_of(request)), pk=pk)
    ok, message = repository_test(repository=repository)
    return render(request, "gitsync/_test_result.html", {"ok": ok, "message": message})
