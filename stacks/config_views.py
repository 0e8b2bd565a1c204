"""`POST /api/git/repositories/<id>/discover`: the stacks of the repository's
`.dockhand.yaml` (or `.dockhand.<target>.yaml`), created or updated on demand."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error
from dockhand.openapi import ErrorSerializer, detail
from dockhand.tokens import token_environment_ids
from gitsync import git
from gitsync.services.visibility import repositories_visible
from stacks.models import Environment, Membership
from stacks.repository_config import (
    ConfigInvalid,
    ConfigMissing,
    config_file_for,
    discovery_environment,
    repository_discover,
)
from stacks.services.access import require, visible_environment_ids
from stacks.services.git_reach import git_reach


def requested_environment(request: Request, given: Any) -> Environment | None:
    """The environment a body or query names (`environmentId`), if the caller sees it;
    None when none is named. A 404 body when it names one the caller does not see."""
    if given in (None, ""):
        return None
    try:
        pk = int(given)
    except (TypeError, ValueError):
        raise ConfigInvalid(f"environmentId: must be a whole number, not {given!r}") from None
    allowed = visible_environment_ids(request.user, token_environment_ids(request))
    environment = Environment.objects.filter(pk=pk).first()
    if environment is None or (allowed is not None and pk not in allowed):
        raise LookupError("Environment not found")
    return environment


_LISTED = detail("DiscoveredStack", many=True, id=serializers.IntegerField(), stackName=serializers.CharField())
DISCOVERED = detail(
    "Discovery",
    file=serializers.CharField(),
    commit=serializers.CharField(),
    environmentId=serializers.IntegerField(),
    created=_LISTED,
    updated=_LISTED,
    unchanged=_LISTED,
    missing=_LISTED,
)


class RepositoryDiscover(APIView):
    """POST /api/git/repositories/<id>/discover {"environmentId"?, "target"?}"""

    @extend_schema(
        request=detail(
            "DiscoverRequest",
            environmentId=serializers.IntegerField(required=False),
            target=serializers.CharField(required=False),
        ),
        responses={
            200: DISCOVERED,
            502: OpenApiResponse(ErrorSerializer, description="The repository's remote could not be reached"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        repository = repositories_visible(git_reach(request)).filter(pk=pk).first()
        if repository is None:
            return error("Repository not found", status.HTTP_404_NOT_FOUND)
        body = request.data if isinstance(request.data, dict) else {}
        target = str(body.get("target") or request.query_params.get("target") or "")
        try:
            file = config_file_for(target)
            given = body.get("environmentId", request.query_params.get("environmentId"))
            environment = requested_environment(request, given) or discovery_environment(repository, file)
        except ConfigInvalid as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        except LookupError as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND)
        require(request.user, environment.pk, Membership.Role.ADMIN)  # it creates stacks there
        try:
            found = repository_discover(repository=repository, environment=environment, target=target)
        except ConfigMissing as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND)
        except ConfigInvalid as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        except git.GitError as exc:
            # Unreachable is the remote's fault (502); a refused login or a missing
            # branch is the stored configuration's (409), as for the stack's own diff.
            code = status.HTTP_502_BAD_GATEWAY if exc.unreachable else status.HTTP_409_CONFLICT
            return error(str(exc), code, cause=exc)
        return Response(found.body())
