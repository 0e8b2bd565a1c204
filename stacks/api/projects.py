"""Every compose project on an environment's engine (doco-cd's projects API; Dockhand's
`/api/stacks`): the list, start / stop / restart, delete, and adopt into a git stack."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error, query_bool, query_int
from dockhand.openapi import ERROR_TEXT, ErrorSerializer, detail, flag
from dockhand.tokens import token_environment_ids
from gitsync import git
from stacks import compose, engine
from stacks.api.containers import CONTAINER_ROW, container_row
from stacks.api.serializers import GitStackSerializer
from stacks.api.views import require_source
from stacks.models import Environment, Membership
from stacks.services.access import require, visible_environments
from stacks.services.adopt import Adoption, project_adopt
from stacks.services.deploy_errors import DeployError
from stacks.services.projects import (
    Project,
    ProjectMissing,
    environment_project,
    environment_projects,
    project_delete,
    project_operate,
    projects_listed,
)
from stacks.services.stacks import local_environment

# What compose accepts as a project name (lower case, digits, dash, underscore).
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
ENVIRONMENT_NOT_FOUND = "Environment not found"


def project_row(project: Project) -> dict[str, Any]:
    """A project as the API and the projects page read it."""
    stack = project.stack
    return {
        "name": project.name,
        "environmentId": project.environment.pk,
        "environment": project.environment.name,
        "managed": project.managed,
        "stackId": stack.pk if stack else None,
        "stackName": stack.name if stack else None,
        "status": project.status,
        "services": [
            {"name": name, "states": states, "running": states.count("running"), "total": len(states)}
            for name, states in project.services.items()
        ],
        "containers": [container_row(c) for c in project.containers],
    }


PROJECT = detail(
    "Project",
    name=serializers.CharField(),
    environmentId=serializers.IntegerField(),
    environment=serializers.CharField(),
    managed=serializers.BooleanField(help_text="A git stack deploys it"),
    stackId=serializers.IntegerField(allow_null=True),
    stackName=serializers.CharField(allow_null=True),
    status=serializers.CharField(help_text="running, partially running, exited, … (as `docker compose ls`)"),
    services=detail(
        "ProjectService",
        name=serializers.CharField(),
        states=serializers.ListField(child=serializers.CharField(), help_text="Its containers' states"),
        running=serializers.IntegerField(),
        total=serializers.IntegerField(),
        many=True,
    ),
    containers=CONTAINER_ROW,
)
ENVIRONMENT_ID = OpenApiParameter("environmentId", int, description="The project's environment (default: local)")
NO_ENGINE = OpenApiResponse(ErrorSerializer, description="The environment's engine did not answer")
# A list view (`lists`): 200 is an array of them; an environment named that the caller
# does not see is a 404.
PROJECTS = {
    200: PROJECT,
    404: OpenApiResponse(ErrorSerializer, description="No such environment visible to this caller"),
    502: NO_ENGINE,
}
ALL = flag("all", "Also the projects with nothing running (default true)")
ONLY_ENVIRONMENT = OpenApiParameter(
    "environmentId", int, description="Only this environment's (an engine that does not answer is a 502)"
)
PROJECT_DONE = detail("ProjectDone", success=serializers.BooleanField(), output=serializers.CharField())
PROJECT_FAILED = detail(
    "ProjectFailed", error=serializers.CharField(), code=serializers.CharField(), success=serializers.BooleanField()
)


def _environments(request: Request, *, names: tuple[str, ...] = ("environmentId",)) -> Any:
    """The environments asked about (`?environmentId=`, Dockhand's `?env=`) among those the
    caller sees: all of them when none is named."""
    visible = visible_environments(request.user, token_environment_ids(request))
    for name in names:
        if request.query_params.get(name):
            return visible.filter(pk=query_int(request, name, 0, maximum=2**62))
    return visible.order_by("name")


def _environment(request: Request) -> Environment | None:
    """The environment a project action is about (`?environmentId=`, else `local`);
    None when the caller may not see it (answered 404)."""
    visible = _environments(request)
    if not request.query_params.get("environmentId"):
        visible = visible.filter(pk=local_environment().pk)
    found: Environment | None = visible.first()
    return found


def _name(name: str) -> str:
    if not PROJECT_NAME.fullmatch(name):
        raise ValidationError({"name": ["must be a compose project name (lower case letters, digits, - and _)"]})
    return name


class ProjectList(APIView):
    """GET /api/projects?all=true&environmentId=: the engine's compose projects, each with
    `managed`; `all=false` leaves out those with nothing running."""

    names: tuple[str, ...] = ("environmentId",)
    lists = True  # an array of projects (dockhand.openapi)

    @extend_schema(responses=PROJECTS, parameters=[ALL, ONLY_ENVIRONMENT])
    def get(self, request: Request) -> Response:
        include_stopped = query_bool(request, "all", True)
        environments = _environments(request, names=self.names)
        if any(request.query_params.get(name) for name in self.names):
            # One environment asked for: its engine not answering is an error, not an empty list.
            environment = environments.first()
            if environment is None:
                return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
            try:
                listed = environment_projects(environment=environment, include_stopped=include_stopped)
            except engine.EngineError as exc:
                return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc)
        else:  # every environment: one engine that does not answer hides only its own projects
            listed = projects_listed(environments=environments, include_stopped=include_stopped)
        return Response([project_row(p) for p in listed])


class DockhandProjectList(ProjectList):
    """GET /api/stacks?env=: Dockhand's name for the projects list (its `env` is environmentId)."""

    names = ("env", "environmentId")

    @extend_schema(
        responses=PROJECTS,
        parameters=[ALL, ONLY_ENVIRONMENT, OpenApiParameter("env", int, description="Dockhand's environmentId")],
        summary="List compose projects (Dockhand's name)",
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class ProjectDetail(APIView):
    """GET one project; DELETE it (`?volumes=&images=`): unmanaged ones only."""

    @extend_schema(responses={200: PROJECT, 502: NO_ENGINE}, parameters=[ENVIRONMENT_ID])
    def get(self, request: Request, name: str) -> Response:
        environment = _environment(request)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        try:
            return Response(project_row(environment_project(environment=environment, name=_name(name))))
        except ProjectMissing as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND, cause=exc)
        except engine.EngineError as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc)

    @extend_schema(
        responses={200: PROJECT_DONE, 502: PROJECT_FAILED},
        parameters=[
            ENVIRONMENT_ID,
            flag("volumes", "Also remove its named volumes"),
            flag("images", "Also remove the images it used"),
        ],
    )
    def delete(self, request: Request, name: str) -> Response:
        environment = _environment(request)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        volumes, images = query_bool(request, "volumes", False), query_bool(request, "images", False)
        try:
            output = project_delete(
                environment=environment, name=_name(name), by=request.user, volumes=volumes, images=images
            )
        except ProjectMissing as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND, cause=exc)
        except (engine.EngineError, compose.ComposeError) as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc, success=False)
        return Response({"success": True, "output": output})


class ProjectOperation(APIView):
    """POST /api/projects/<name>/start|stop|restart?environmentId="""

    operation = ""

    @extend_schema(request=None, responses={200: PROJECT_DONE, 502: PROJECT_FAILED}, parameters=[ENVIRONMENT_ID])
    def post(self, request: Request, name: str) -> Response:
        environment = _environment(request)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        try:
            output = project_operate(environment=environment, name=_name(name), action=self.operation, by=request.user)
        except ProjectMissing as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND, cause=exc)
        except (engine.EngineError, compose.ComposeError) as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc, success=False)
        return Response({"success": True, "output": output})


def adoption_row(adoption: Adoption) -> dict[str, Any]:
    return {
        "stackId": adoption.stack.pk,
        "stackName": adoption.stack.name,
        "commit": adoption.commit,
        "matched": adoption.matched,
        "syncState": "Synced" if adoption.matched else "OutOfSync",
        "reasons": adoption.reasons,
        "deploymentId": adoption.deployment.pk if adoption.deployment else None,
    }


def adopt(*, request: Any, environment: Environment, name: str, body: dict[str, Any], check: bool) -> Adoption:
    """Adopt with a stack create's fields (`body`, camelCase), validated as a create is
    (and its source asked of the remote unless `check` is False): the API's and the
    page's one path. ValidationError names the field."""
    require(request.user, environment.pk, Membership.Role.ADMIN)  # before the remote is asked
    body = dict(body)
    body.update(
        stackName=body.pop("name", None) or body.get("stackName") or _name(name),
        projectName=_name(name),
        environmentId=environment.pk,
    )
    body.pop("deployNow", None)  # adopting deploys nothing
    data = GitStackSerializer(data=body, context={"request": request})
    data.is_valid(raise_exception=True)
    if check:
        require_source(data, environment)
    return project_adopt(
        environment=environment,
        name=name,
        by=request.user,
        fields=data.model_fields(),
        repository_url=data.repository_url(),
        env_vars=data.env_var_inputs(),
    )


class ProjectAdopt(APIView):
    """POST /api/projects/<name>/adopt {"repositoryId" | "url", "composePath", "branch"?, …}:
    the project becomes a git stack of that project name (the stack create's fields)."""

    @extend_schema(
        request=GitStackSerializer(partial=True),
        responses={
            201: detail(
                "Adoption",
                stackId=serializers.IntegerField(),
                stackName=serializers.CharField(),
                commit=serializers.CharField(),
                matched=serializers.BooleanField(help_text="What runs is the commit's model"),
                syncState=serializers.ChoiceField(choices=["Synced", "OutOfSync"]),
                reasons=serializers.ListField(child=serializers.CharField(), help_text="Why it does not match"),
                deploymentId=serializers.IntegerField(allow_null=True),
            ),
            502: OpenApiResponse(ErrorSerializer, description=ERROR_TEXT["502"]),
        },
        parameters=[
            ENVIRONMENT_ID,
            flag("check", "Ask the remote whether the repository, branch and files exist first (default true)"),
        ],
    )
    def post(self, request: Request, name: str) -> Response:
        environment = _environment(request)
        if environment is None:
            return error(ENVIRONMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        body = request.data if isinstance(request.data, dict) else {}
        try:
            adoption = adopt(
                request=request, environment=environment, name=name, body=body, check=query_bool(request, "check", True)
            )
        except ProjectMissing as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND, cause=exc)
        except engine.EngineError as exc:
            return error(str(exc), status.HTTP_502_BAD_GATEWAY, cause=exc)
        except git.GitError as exc:
            return error(
                str(exc), status.HTTP_502_BAD_GATEWAY if exc.unreachable else status.HTTP_409_CONFLICT, cause=exc
            )
        except (compose.ComposeError, DeployError) as exc:  # the repository's model cannot be rendered
            return error(f"composePath: {exc}", status.HTTP_400_BAD_REQUEST, cause=exc)
        return Response(adoption_row(adoption), status=status.HTTP_201_CREATED)
