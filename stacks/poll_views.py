"""`POST /api/poll/run?wait=true|false&environmentId=`: doco-cd's poll run.

The body is doco-cd's: a JSON array of `{"url", "reference"?, "deployments"?: [{"name",
"working_dir"?, "compose_files"?, "env_files"?}]}`. Each target's repository is made on
first use (with the stored credential whose scope allows the URL, if any), each
deployment's stack too (named `name`, in the environment asked for, default `local`),
and reused after; a target without `deployments` deploys what the repository's
`.dockhand.yaml` declares, or one stack named after the repository. Every stack then
syncs through `stack_sync`. The whole body is checked before anything is made.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error, query_bool
from dockhand.errors import Forbidden
from dockhand.models import ApiToken
from dockhand.openapi import ErrorSerializer, flag
from gitsync import git
from gitsync.models import Repository
from gitsync.services.repositories import repository_for_url, repository_name_from_url
from gitsync.services.scope import credential_for_url
from gitsync.validation import branch_problem, url_problem
from stacks.api.views import sync_result
from stacks.config_views import requested_environment
from stacks.models import Deployment, Environment, GitStack, Membership
from stacks.repository_config import ConfigInvalid, ConfigMissing, repository_discover, stack_fields
from stacks.services.access import require
from stacks.services.deploy import relative_path_problem
from stacks.services.lock import StackBusy
from stacks.services.stacks import local_environment, stack_create, stack_update
from stacks.services.sync import deployment_wait, stack_sync

MAX_TARGETS = 50
# Read by doco-cd for its own schedule, meaningless for a run asked for now.
_IGNORED = {"interval", "run_once"}
_TARGET_KEYS = {"url", "reference", "deployments", *_IGNORED}
_DEPLOYMENT_KEYS = {"name", "working_dir", "compose_files", "env_files"}
_NAMES = {"stackName": "name", "composePath": "compose_files", "envFilePath": "env_files"}


@dataclass
class _Target:
    """One checked entry of the body."""

    where: str
    url: str
    branch: str  # "" when no reference was given: the repository's
    deployments: list[dict[str, Any]]
    stacks: list[GitStack] = field(default_factory=list)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigInvalid(f"{where}: must be a non-empty list of file names")
    return value


def _path(working_dir: str, name: str, where: str) -> str:
    joined = posixpath.normpath(posixpath.join(working_dir.strip("/"), name)) if working_dir.strip("/") else name
    problem = relative_path_problem(joined)
    if problem:
        raise ConfigInvalid(f"{where}: {joined!r} {problem}")
    return joined


def _deployment(entry: Any, where: str) -> dict[str, Any]:
    """A doco-cd deployment as the stack API's fields (only those it gives)."""
    if not isinstance(entry, dict):
        raise ConfigInvalid(f"{where}: must be an object with a name")
    unknown = sorted(set(entry) - _DEPLOYMENT_KEYS)
    if unknown:
        raise ConfigInvalid(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(_DEPLOYMENT_KEYS))})")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigInvalid(f"{where}.name: is required (a string)")
    working_dir = entry.get("working_dir", "")
    if not isinstance(working_dir, str):
        raise ConfigInvalid(f"{where}.working_dir: must be a string")
    fields: dict[str, Any] = {"stackName": name}
    if "compose_files" in entry:
        files = [
            _path(working_dir, f, f"{where}.compose_files")
            for f in _strings(entry["compose_files"], f"{where}.compose_files")
        ]
        fields["composePath"], fields["additionalComposeFiles"] = files[0], files[1:]
    elif working_dir.strip("/"):
        fields["composePath"] = _path(working_dir, "compose.yaml", f"{where}.working_dir")
    if "env_files" in entry:
        env_files = _strings(entry["env_files"], f"{where}.env_files")
        if len(env_files) > 1:
            raise ConfigInvalid(f"{where}.env_files: at most one file (the `.env` beside the compose file is read too)")
        fields["envFilePath"] = _path(working_dir, env_files[0], f"{where}.env_files")
    return fields


def _targets(body: Any) -> list[_Target]:
    if not isinstance(body, list) or not body:
        raise ConfigInvalid("body: must be a non-empty JSON array of poll targets")
    if len(body) > MAX_TARGETS:
        raise ConfigInvalid(f"body: at most {MAX_TARGETS} targets")
    targets = []
    for index, entry in enumerate(body):
        where = f"[{index}]"
        if not isinstance(entry, dict):
            raise ConfigInvalid(f"{where}: must be an object with a url")
        unknown = sorted(set(entry) - _TARGET_KEYS)
        if unknown:
            raise ConfigInvalid(f"{where}.{unknown[0]}: unknown field (known: url, reference, deployments)")
        url = entry.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigInvalid(f"{where}.url: is required (the repository's clone URL)")
        problem = url_problem(url)
        if problem:
            raise ConfigInvalid(f"{where}.url: {problem}")
        reference = entry.get("reference", "")
        if not isinstance(reference, str):
            raise ConfigInvalid(f"{where}.reference: must be a branch name")
        if reference.startswith("refs/") and not reference.startswith("refs/heads/"):
            raise ConfigInvalid(f"{where}.reference: only branches are deployed ({reference!r} is not one)")
        branch = reference.removeprefix("refs/heads/")
        problem = branch_problem(branch) if branch else None
        if problem:
            raise ConfigInvalid(f"{where}.reference: {problem}")
        deployments = entry.get("deployments", [])
        if not isinstance(deployments, list):
            raise ConfigInvalid(f"{where}.deployments: must be a list")
        checked = [_deployment(d, f"{where}.deployments[{i}]") for i, d in enumerate(deployments)]
        names = [d["stackName"] for d in checked]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice:
            raise ConfigInvalid(f"{where}.deployments: {twice!r} is named twice")
        targets.append(_Target(where=where, url=url, branch=branch, deployments=checked))
    return targets


def _repository(target: _Target, environment: Environment) -> Repository:
    """The repository of this URL (with the credential its scope allows here), made on first use."""
    credential = credential_for_url(target.url, environment=(environment.pk, environment.name))
    return repository_for_url(url=target.url, branch=target.branch or "main", credential=credential)


POLL_RESULTS = inline_serializer(
    "PollResult",
    many=True,
    fields={
        "url": serializers.CharField(),
        "stackId": serializers.IntegerField(),
        "stackName": serializers.CharField(),
        "status": serializers.CharField(required=False),
        "success": serializers.BooleanField(required=False),
        "deployed": serializers.BooleanField(required=False),
        "message": serializers.CharField(required=False),
        "error": serializers.CharField(required=False),
        "commit": serializers.CharField(required=False, allow_null=True),
        "output": serializers.CharField(required=False),
        "deploymentId": serializers.IntegerField(required=False, allow_null=True),
    },
)


class PollRun(APIView):
    """POST /api/poll/run: sync every target of doco-cd's body, answering each result."""

    write_scope = ApiToken.Scope.WRITE  # running stacks; making one needs an admin (below)

    @extend_schema(
        parameters=[
            flag("wait", "Answer each sync's result (default), or 202 with the deployment ids at once"),
            OpenApiParameter("environmentId", int, description="Where the stacks are (default: local)"),
        ],
        request=inline_serializer(
            "PollTarget",
            many=True,
            fields={
                "url": serializers.CharField(),
                "reference": serializers.CharField(required=False),
                "deployments": inline_serializer(
                    "PollDeployment",
                    many=True,
                    required=False,
                    fields={
                        "name": serializers.CharField(),
                        "working_dir": serializers.CharField(required=False),
                        "compose_files": serializers.ListField(child=serializers.CharField(), required=False),
                        "env_files": serializers.ListField(child=serializers.CharField(), required=False),
                    },
                ),
            },
        ),
        responses={
            200: POLL_RESULTS,
            202: POLL_RESULTS,
            404: OpenApiResponse(ErrorSerializer, description="No such environment the caller sees"),
            502: OpenApiResponse(ErrorSerializer, description="A repository's remote could not be reached"),
        },
    )
    def post(self, request: Request) -> Response:
        wait = query_bool(request, "wait", True)  # doco-cd's default
        try:
            environment = requested_environment(request, request.query_params.get("environmentId"))
            targets = _targets(request.data)
        except ConfigInvalid as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        except LookupError as exc:
            return error(str(exc), status.HTTP_404_NOT_FOUND)
        environment = environment or local_environment()
        require(request.user, environment.pk, Membership.Role.DEPLOYER)
        try:
            with transaction.atomic():  # a bad deployment of any target makes nothing
                for target in targets:
                    target.stacks = self._stacks(request, target, environment)
        except ConfigInvalid as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        except git.GitError as exc:
            # Unreachable is the remote's fault (502); a refused login or a missing
            # branch is the stored configuration's (409), as for the stack's own diff.
            code = status.HTTP_502_BAD_GATEWAY if exc.unreachable else status.HTTP_409_CONFLICT
            return error(str(exc), code, cause=exc)
        started = [(target, stack, self._sync(request, stack)) for target in targets for stack in target.stacks]
        results = []
        for target, stack, outcome in started:
            shown: dict[str, Any] = {"url": target.url, "stackId": stack.pk, "stackName": stack.name}
            if isinstance(outcome, str):
                shown |= {"success": False, "error": outcome}
            elif wait and outcome.status != Deployment.Status.PENDING_APPROVAL:
                done = deployment_wait(deployment=outcome, timeout=settings.SYNC_WAIT_TIMEOUT)
                shown |= dict(sync_result(done).data) | {"status": done.status}
            else:
                shown |= {"deploymentId": outcome.pk, "status": outcome.status}
            results.append(shown)
        return Response(results, status=status.HTTP_200_OK if wait else status.HTTP_202_ACCEPTED)

    def _sync(self, request: Request, stack: GitStack) -> Deployment | str:
        try:
            return stack_sync(stack=stack, trigger=Deployment.Trigger.API, by=request.user)
        except (StackBusy, Forbidden) as exc:
            return str(exc)

    def _may_create(self, request: Request, environment: Environment) -> None:
        require(request.user, environment.pk, Membership.Role.ADMIN)
        token = request.auth
        if isinstance(token, ApiToken) and not token.allows(ApiToken.Scope.ADMIN):
            raise Forbidden("Making a stack needs a deploy:admin token")

    def _stacks(self, request: Request, target: _Target, environment: Environment) -> list[GitStack]:
        """The target's stacks, made or brought in line with the body where it says more."""
        repository = Repository.objects.filter(url=target.url).first()
        if repository is None:
            self._may_create(request, environment)
            repository = _repository(target, environment)
        if not target.deployments:
            return self._declared(request, target, repository, environment)
        return [self._stack(request, target, repository, environment, i, d) for i, d in enumerate(target.deployments)]

    def _declared(
        self, request: Request, target: _Target, repository: Repository, environment: Environment
    ) -> list[GitStack]:
        """No deployments: the stacks of the repository's `.dockhand.yaml`, else one
        stack named after the repository (doco-cd reads its `.doco-cd.yaml` alike)."""
        if target.branch and target.branch != repository.branch:
            name = {"stackName": f"{repository_name_from_url(target.url)}-{target.branch}"}
            return [self._stack(request, target, repository, environment, 0, name)]
        try:
            declared = GitStack.objects.filter(repository=repository, environment=environment).exclude(config_file="")
            if not declared.exists():
                self._may_create(request, environment)
            return repository_discover(repository=repository, environment=environment).declared
        except ConfigMissing:
            name = {"stackName": repository_name_from_url(target.url)}
            return [self._stack(request, target, repository, environment, 0, name)]

    def _stack(
        self,
        request: Request,
        target: _Target,
        repository: Repository,
        environment: Environment,
        index: int,
        given: dict[str, Any],
    ) -> GitStack:
        where = f"{target.where}.deployments[{index}]"
        existing = GitStack.objects.filter(environment=environment, name=given["stackName"].strip()).first()
        if existing is not None and existing.repository.url != target.url:
            raise ConfigInvalid(
                f"{where}.name: the stack {existing.name!r} of {environment.name} deploys from another repository"
            )
        data = {**given, "environmentId": environment.pk, "repositoryId": repository.pk}
        if target.branch:
            data["branch"] = target.branch
        if existing is None:
            self._may_create(request, environment)
        fields = stack_fields(data, existing, where=where, names=_NAMES)
        if existing is None:
            return stack_create(fields=fields)
        changes = {k: v for k, v in fields.items() if k not in ("environment", "repository", "name")}
        changes = {k: v for k, v in changes.items() if getattr(existing, k) != v}
        if changes:
            require(request.user, environment.pk, Membership.Role.ADMIN)  # an edit, as the stack API's
            return stack_update(stack=existing, fields=changes)
        return existing
