"""Rollback, cancel, stack operations and live status (spec §3); containers: containers.py."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import error, query_bool
from dockhand.models import ApiToken
from dockhand.openapi import ErrorSerializer, detail, flag
from gitsync import git
from gitsync.services.auth import git_auth
from stacks import compose
from stacks.api.deployment_serializers import DeploymentSerializer
from stacks.api.swarm import ACTION_FAILED, SwarmServiceSerializer, swarm_answer
from stacks.api.views import STACK_NOT_FOUND, SYNC_ANSWERS, WAIT, sync_result, visible_deployment, visible_stacks
from stacks.models import Deployment, GitStack, Membership
from stacks.services.access import require
from stacks.services.deployments import deployment_cancel
from stacks.services.diff import stack_diff
from stacks.services.images import image_updates, stack_images_refresh
from stacks.services.operations import stack_operate
from stacks.services.rollback import NothingToRollBack, stack_rollback
from stacks.services.secret_inputs import secret_inputs_refresh
from stacks.services.status import stack_states
from stacks.services.sync import deployment_wait

# `from` is a keyword in Python, not in the answer.
FROM_COMMIT: dict[str, Any] = {"from": serializers.CharField(allow_null=True)}
FROM_VALUE: dict[str, Any] = {"from": serializers.JSONField(allow_null=True)}


def _stack(request: Request, pk: int) -> GitStack | None:
    stack: GitStack | None = (
        visible_stacks(request, GitStack.objects.select_related("environment", "repository")).filter(pk=pk).first()
    )
    return stack


class StackRollback(APIView):
    """POST /api/git/stacks/<id>/rollback {"deploymentId"?}: redeploy an earlier commit."""

    write_scope = ApiToken.Scope.WRITE

    @extend_schema(
        request=detail(
            "RollbackRequest",
            deploymentId=serializers.IntegerField(
                required=False, help_text="The deployment whose commit to redeploy (default: the one before)"
            ),
        ),
        responses=SYNC_ANSWERS,
        parameters=[WAIT],
    )
    def post(self, request: Request, pk: int) -> Response:
        stack = _stack(request, pk)
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        wanted = request.data.get("deploymentId") if isinstance(request.data, dict) else None
        if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool)):
            return error("deploymentId: must be a deployment id", 400, fields={"deploymentId": ["must be an id"]})
        try:
            deployment = stack_rollback(stack=stack, by=request.user, deployment_id=wanted)
        except NothingToRollBack as exc:
            if wanted is not None:
                return error(f"deploymentId: {exc}", 400, fields={"deploymentId": [str(exc)]}, cause=exc)
            raise
        if not query_bool(request, "wait", True) or deployment.status == Deployment.Status.PENDING_APPROVAL:
            return sync_result(deployment)
        return sync_result(deployment_wait(deployment=deployment, timeout=settings.SYNC_WAIT_TIMEOUT))


class DeploymentCancel(APIView):
    """POST /api/deployments/<id>/cancel: answers once the deployment has ended."""

    write_scope = ApiToken.Scope.WRITE

    @extend_schema(request=None, responses=DeploymentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        deployment = visible_deployment(request, pk)
        if deployment is None:
            return error("Deployment not found", status.HTTP_404_NOT_FOUND)
        deployment = deployment_cancel(deployment=deployment, by=request.user)
        if not deployment.is_finished:  # the worker stops compose, then ends it
            deployment = deployment_wait(deployment=deployment, timeout=settings.CANCEL_GRACE + 15)
        return Response(DeploymentSerializer(deployment).data)


class StackOperation(APIView):
    """POST /api/git/stacks/<id>/start|stop|restart|down (down: ?volumes=&images=); a
    swarm stack's restart (or one naming a `service`) restarts its swarm services."""

    write_scope = ApiToken.Scope.WRITE
    operation = ""

    @extend_schema(
        request=detail(
            "StackOperationRequest",
            service=serializers.CharField(required=False, help_text="restart: only this swarm service"),
        ),
        responses={
            # compose's output; a swarm stack's restart: each service's state instead.
            200: detail(
                "OperationDone",
                success=serializers.BooleanField(),
                output=serializers.CharField(required=False),
                stoppedByUser=serializers.BooleanField(required=False),
                waited=serializers.BooleanField(required=False),
                services=SwarmServiceSerializer(many=True, required=False),
            ),
            **{code: ACTION_FAILED for code in (500, 502, 504)},
        },
        parameters=[
            flag("volumes", "down: also remove the stack's named volumes"),
            flag("images", "down: also remove the images it used"),
            flag("wait", "restart of a swarm stack: answer once its services converged (default false)"),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        stack = _stack(request, pk)
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        require(request.user, stack.environment_id, Membership.Role.DEPLOYER)
        named = isinstance(request.data, dict) and "service" in request.data
        if self.operation == "restart" and (stack.environment.swarm or named):
            return swarm_answer(request, stack, "restart")  # a swarm's services, one or all
        volumes = query_bool(request, "volumes", False)
        images = query_bool(request, "images", False)
        try:
            output = stack_operate(
                stack=stack, operation=self.operation, by=request.user, volumes=volumes, images=images
            )
        except compose.ComposeError as exc:
            return error(str(exc), status.HTTP_500_INTERNAL_SERVER_ERROR, success=False, cause=exc)
        return Response({"success": True, "output": output, "stoppedByUser": stack.stopped_by_user})


class StackStatus(APIView):
    """GET /api/git/stacks/<id>/status: asks the remote for the branch head now (and
    with ?refresh=true each registry for its tags' digests)."""

    @extend_schema(
        responses=detail(
            "StackStatus",
            syncState=serializers.CharField(),
            health=serializers.CharField(),
            reasons=serializers.ListField(child=serializers.CharField()),
            branchHead=serializers.CharField(allow_null=True),
            deployedCommit=serializers.CharField(allow_null=True),
            remoteError=serializers.CharField(allow_null=True),
        )
    )
    def get(self, request: Request, pk: int) -> Response:
        stack = _stack(request, pk)
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        remote_error = None
        try:
            auth = git_auth(stack.repository.credential)
            stack.remote_head = git.remote_head(url=stack.repository.url, branch=stack.branch, auth=auth)
            stack.record(remote_head=stack.remote_head)
        except git.GitError as exc:
            remote_error = str(exc)
        # `refresh=true` asks the secret stores too: a value rotated there is OutOfSync.
        secrets_error = secret_inputs_refresh(stack=stack) if query_bool(request, "refresh", False) else None
        # ?refresh=true asks the registries too (a manifest HEAD per tag, no pull).
        registry_errors = stack_images_refresh(stack=stack) if query_bool(request, "refresh", False) else []
        state = stack_states([stack])[stack.pk]
        return Response(
            {
                "syncState": state.sync_state,
                "health": state.health,
                "reasons": list(state.reasons),
                "branchHead": stack.remote_head or None,
                "deployedCommit": stack.last_commit or None,
                "remoteError": remote_error,
                "secretsError": secrets_error,
                "imageUpdates": image_updates(stack),
                "registryErrors": registry_errors,
            }
        )


class StackDiff(APIView):
    """GET /api/git/stacks/<id>/diff: what a sync would change (files and services)."""

    @extend_schema(
        responses={
            200: detail(
                "StackDiff",
                **FROM_COMMIT,
                to=serializers.CharField(),
                commitMessage=serializers.CharField(),
                files=detail(
                    "DiffFile",
                    status=serializers.CharField(),
                    path=serializers.CharField(),
                    diff=serializers.CharField(allow_null=True),
                    many=True,
                ),
                overrides=detail(
                    "DiffOverrides",
                    added=serializers.ListField(child=serializers.CharField()),
                    changed=serializers.ListField(child=serializers.CharField()),
                    removed=serializers.ListField(child=serializers.CharField()),
                    secrets=serializers.ListField(child=serializers.CharField()),
                ),
                options=detail(
                    "DiffOption",
                    name=serializers.CharField(),
                    **FROM_VALUE,
                    to=serializers.JSONField(allow_null=True),
                    many=True,
                ),
                services=serializers.ListField(child=serializers.CharField(), allow_null=True),
                servicesError=serializers.CharField(allow_null=True),
            ),
            409: ErrorSerializer,
            502: ErrorSerializer,
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        stack = _stack(request, pk)
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        try:
            return Response(stack_diff(stack=stack))
        except git.GitError as exc:
            code = status.HTTP_502_BAD_GATEWAY if exc.unreachable else status.HTTP_409_CONFLICT
            return error(str(exc), code, cause=exc)
