"""Dashboard pages for credentials and repositories."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from dockhand.forms import optional_id
from dockhand.pages import Resource
from gitsync.api.serializers import CredentialSerializer, RepositorySerializer
from gitsync.models import Credential, Repository
from gitsync.services.repositories import (
    credential_delete,
    credential_save,
    repository_delete,
    repository_save,
    repository_test,
)

_SECRET_INPUTS = ("password", "token", "sshPrivateKey", "sshPassphrase")


def _credential_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {k: post.get(k, "") for k in ("name", "authType", "username", "sshKnownHosts")}
    # Secret inputs are never pre-filled; an empty one means "keep what is stored".
    data.update({k: post[k] for k in _SECRET_INPUTS if post.get(k)})
    return data


def _repository_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {k: post.get(k, "").strip() for k in ("name", "url", "branch")}
    data["credentialId"] = optional_id(post, "credentialId")
    return data


CREDENTIALS = Resource(
    name="credential",
    plural="credentials",
    app="gitsync",
    model=Credential,
    serializer=CredentialSerializer,
    data=_credential_data,
    save=lambda instance, fields: credential_save(credential=instance, fields=fields),
    delete=lambda instance: credential_delete(credential=instance),
    page_context=lambda request: {"auth_types": Credential.AuthType.values},
    defaults={"authType": "token"},
)

REPOSITORIES = Resource(
    name="repository",
    plural="repositories",
    app="gitsync",
    model=Repository,
    serializer=RepositorySerializer,
    data=_repository_data,
    save=lambda instance, fields: repository_save(repository=instance, fields=fields),
    delete=lambda instance: repository_delete(repository=instance),
    page_context=lambda request: {"credentials": Credential.objects.all()},
    defaults={"branch": "main"},
)


@login_required
@require_POST
def repository_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    """HTMX: try the branch with the repository's credential; say what happened."""
    ok, message = repository_test(repository=get_object_or_404(Repository, pk=pk))
    return render(request, "gitsync/_test_result.html", {"ok": ok, "message": message})
