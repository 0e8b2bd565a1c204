"""Browsing a forge with a stored token, for the stack form's picker:
`GET /api/forge/repositories?forge=&apiUrl=&credentialId=&q=&page=` and
`GET /api/forge/branches?…&repo=`. Whoever may make a stack (an owner, or an admin of
some environment) may browse; the token is used only where its URL prefixes allow."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error, query_int
from dockhand.errors import Forbidden
from dockhand.openapi import detail
from gitsync import forge
from gitsync.models import Credential
from gitsync.services.forges import ForgeRefused, forge_client
from gitsync.services.visibility import ReachOf, owners_only

_ASKED = [
    OpenApiParameter("forge", str, required=True, enum=list(forge.FORGES), description="Which forge's API"),
    OpenApiParameter("apiUrl", str, description="The forge's API (empty: the public one)"),
    OpenApiParameter("credentialId", int, description="A token credential whose URL prefixes hold apiUrl"),
    OpenApiParameter("q", str, description="Narrows the list"),
    OpenApiParameter("page", int, description="1 and up"),
]


def _page(name: str, item: Any) -> Any:
    return detail(name, data=item, page=serializers.IntegerField(), hasMore=serializers.BooleanField())


REPOSITORY_PAGE = _page(
    "ForgeRepositoryPage",
    detail(
        "ForgeRepository",
        many=True,
        name=serializers.CharField(),
        ref=serializers.CharField(),
        cloneUrl=serializers.CharField(),
        defaultBranch=serializers.CharField(),
        private=serializers.BooleanField(),
    ),
)
BRANCH_PAGE = _page("ForgeBranchPage", serializers.ListField(child=serializers.CharField()))


class _Browse(APIView):
    reach_of: ReachOf | None = None  # handed in by the wiring, as for repositories

    def _forge(self, request: Request) -> forge.Forge:
        reach = (self.reach_of or owners_only)(request)
        if reach.admin_of is not None and not reach.admin_of:
            raise Forbidden("Browsing a forge is for whoever makes stacks: an admin of an environment")
        kind = request.query_params.get("forge", "")
        if kind not in forge.FORGES:
            raise ForgeRefused("forge", f"must be one of {', '.join(forge.FORGES)}")
        credential_id = query_int(request, "credentialId", 0, maximum=2**62)
        credential = Credential.objects.filter(pk=credential_id).first() if credential_id else None
        admin_of = reach.admin_of
        if credential is not None and credential.environment_ids and admin_of is not None:
            if not set(credential.environment_ids) & admin_of:
                raise ForgeRefused("credentialId", "this credential is limited to environments you do not administer")
        return forge_client(
            kind,
            api_url=request.query_params.get("apiUrl", ""),
            credential=credential,
            url_field="apiUrl",
            credential_field="credentialId",
        )

    def answer(self, request: Request, list_page: Any) -> Response:
        try:
            page = list_page(self._forge(request), query_int(request, "page", 1, minimum=1, maximum=1000))
        except ForgeRefused as exc:
            return error(f"{exc.field}: {exc}", status.HTTP_400_BAD_REQUEST, fields={exc.field: [str(exc)]})
        except forge.ForgeError as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY)
        return Response(
            {"data": [self.shown(item) for item in page.items], "page": page.page, "hasMore": page.has_more}
        )

    def shown(self, item: Any) -> Any:
        return item


class ForgeRepositories(_Browse):
    """GET /api/forge/repositories: the repositories a forge token sees."""

    @extend_schema(parameters=_ASKED, responses=REPOSITORY_PAGE)
    def get(self, request: Request) -> Response:
        query = request.query_params.get("q", "")[:100]
        return self.answer(request, lambda client, page: forge.list_repositories(client, query=query, page=page))

    def shown(self, item: forge.RemoteRepository) -> dict[str, Any]:
        return {
            "name": item.name,
            "ref": item.ref,
            "cloneUrl": item.clone_url,
            "defaultBranch": item.default_branch,
            "private": item.private,
        }


class ForgeBranches(_Browse):
    """GET /api/forge/branches: the branches of one of them."""

    @extend_schema(
        parameters=[*_ASKED, OpenApiParameter("repo", str, required=True, description="owner/repo, or a GitLab id")],
        responses=BRANCH_PAGE,
    )
    def get(self, request: Request) -> Response:
        repo = request.query_params.get("repo", "").strip()
        if not repo:
            return error("repo: is required (owner/repo, or a GitLab project id)", status.HTTP_400_BAD_REQUEST)
        query = request.query_params.get("q", "")[:100]
        return self.answer(request, lambda client, page: forge.list_branches(client, repo=repo, query=query, page=page))
