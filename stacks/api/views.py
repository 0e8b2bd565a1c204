"""Environment, git stack, sync and deployment endpoints."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.api import CollectionView, ItemView, error, error_body, paged, query_bool, query_int
from dockhand.errors import Forbidden, InUse
from dockhand.models import ApiToken
from dockhand.openapi import PAGE_PARAMETERS, ErrorSerializer, detail, flag, paged_of
from dockhand.tokens import token_environment_ids
from gitsync import git
from stacks import compose
from stacks.api.deployment_serializers import (
    DeploymentListSerializer,
    DeploymentSerializer,
    WebhookDeliverySerializer,
)
from stacks.api.environment_serializers import EnvironmentSerializer
from stacks.api.serializers import GitStackSerializer
from stacks.models import Deployment, Environment, GitStack, Membership, WebhookDelivery
from stacks.services.access import require, visible_environment_ids, visible_environments
from stacks.services.deployments import deployment_approve, deployment_delete, deployment_reject
from stacks.services.environments import environment_delete, environment_save
from stacks.services.listed import stacks_listed
from stacks.services.lock import StackBusy
from stacks.services.output import plain_text
from stacks.services.skipped import UNCHANGED_NOTE
from stacks.services.source import stack_source_check
from stacks.services.stacks import (
    local_environment,
    stack_create,
    stack_delete,
    stack_queryset,
    stack_update,
)
from stacks.services.status import stack_states
from stacks.services.sync import CommitNotOnBranch, deployment_wait, stack_sync

STACK_NOT_FOUND = "Git stack not found"
COMMIT_ID = re.compile(r"^[0-9a-fA-F]{7,64}$")
DEPLOYMENT_NOT_FOUND = "Deployment not found"
AWAITING_APPROVAL = "Waiting for an admin of this environment to approve the deploy"


CHECK = flag("check", "Ask the remote whether the repository, branch and files exist first (default true)")
DEPLOYMENT_STATE = detail(
    "DeploymentState",
    deploymentId=serializers.IntegerField(),
    status=serializers.ChoiceField(choices=Deployment.Status.choices),
    message=serializers.CharField(required=False),
)
# POST …/sync and …/rollback once the deploy ended (spec §3); 202 while it runs or waits.
SYNC_RESULT = detail(
    "SyncResult",
    success=serializers.BooleanField(),
    deployed=serializers.BooleanField(),
    message=serializers.CharField(),
    commit=serializers.CharField(allow_null=True),
    output=serializers.CharField(),
    deploymentId=serializers.IntegerField(),
)
# A deploy that ran and failed (or was cancelled) says all; a refusal before one ran
# (busy, the remote unreachable, a conflict) is the plain error envelope.
SYNC_FAILED = detail(
    "SyncFailed",
    error=serializers.CharField(),
    success=serializers.BooleanField(required=False),
    deployed=serializers.BooleanField(required=False),
    commit=serializers.CharField(allow_null=True, required=False),
    output=serializers.CharField(required=False),
    deploymentId=serializers.IntegerField(required=False),
)
SYNC_ANSWERS = {
    200: SYNC_RESULT,
    202: DEPLOYMENT_STATE,
    409: SYNC_FAILED,
    500: SYNC_FAILED,
    502: SYNC_FAILED,
}
WAIT = flag("wait", "Answer when the deploy has ended (default true); false answers 202 at once")


def visible_stacks(request: Request, stacks: Any) -> Any:
    """Stacks this caller may see: a token limited to environments sees only theirs
    (the others answer 404, as if they did not exist)."""
    allowed = visible_environment_ids(request.user, token_environment_ids(request))
    return stacks if allowed is None else stacks.filter(environment_id__in=allowed)


def _visible_environments(request: Request) -> Any:
    return visible_environments(request.user, token_environment_ids(request))


def _environment_context(request: Request) -> dict[str, Any]:
    """Who asks: `sharedEngineWith` names only environments the caller may see."""
    return {"visible_ids": visible_environment_ids(request.user, token_environment_ids(request))}


class EnvironmentList(CollectionView):
    serializer, model = EnvironmentSerializer, Environment

    def visible(self, request: Request) -> Any:
        return _visible_environments(request)

    def context(self, request: Request) -> dict[str, Any]:
        return _environment_context(request)

    def save(self, instance: Environment | None, fields: dict[str, Any]) -> Environment:
        return environment_save(environment=instance, fields=fields)


class EnvironmentDetail(ItemView):
    serializer, model, not_found = EnvironmentSerializer, Environment, "Environment not found"

    def visible(self, request: Request) -> Any:
        return _visible_environments(request)

    def context(self, request: Request) -> dict[str, Any]:
        return _environment_context(request)

    def save(self, instance: Environment | None, fields: dict[str, Any]) -> Environment:
        return environment_save(environment=instance, fields=fields)

    def remove(self, instance: Environment) -> None:
        environment_delete(environment=instance)


def _queue(request: Request, stack: GitStack, body: dict[str, Any]) -> None:
    """deployNow: start a sync after saving; a sync already running is fine, and a
    protected environment's refusal is reported beside the saved stack."""
    try:
        deployment = stack_sync(stack=stack, trigger=Deployment.Trigger.API, by=request.user)
    except StackBusy:
        return
    except Forbidden as exc:
        body["deployError"] = str(exc)
        return
    body["deploymentId"] = deployment.pk
    body["deploymentStatus"] = deployment.status


def check_source(request: Request, data: GitStackSerializer, environment: Environment) -> None:
    """A 400 naming each field the remote does not have (the URL, the credential, the
    branch, the files), unless `?check=false` or `skipSourceCheck` says not to ask it."""
    if query_bool(request, "check", True):
        require_source(data, environment)


def require_source(data: GitStackSerializer, environment: Environment) -> None:
    """ValidationError naming each field the remote does not have, unless the payload's
    `skipSourceCheck` says not to ask it."""
    if data.validated_data.get("skipSourceCheck"):
        return
    source = data.stack_source()
    if source is None:  # an edit that leaves the repository, branch and paths alone
        return
    problems = stack_source_check(source=source, environment=environment).problems
    if problems:
        raise ValidationError({name: [message] for name, message in problems.items()})


class StackList(APIView):
    @extend_schema(
        responses=GitStackSerializer(many=True),
        parameters=[
            OpenApiParameter("environmentId", int, description="Only this environment's stacks"),
            OpenApiParameter("limit", int, description="A page of at most this many (1-1000); X-Total-Count says all"),
            OpenApiParameter("offset", int),
        ],
    )
    def get(self, request: Request) -> Response:
        stacks = visible_stacks(request, GitStack.objects.all())
        if "environmentId" in request.query_params:
            stacks = stacks.filter(environment_id=query_int(request, "environmentId", 0, maximum=2**62))
        total = None
        if "limit" in request.query_params or "offset" in request.query_params:
            # Optional pages (the body stays the spec's array; the total is a header).
            limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
            offset = query_int(request, "offset", 0, maximum=2**62)
            total = stacks.count()
            stacks = stacks[offset : offset + limit]
        listed = stacks_listed(stacks, shared=True)  # only read below: written out as JSON
        context = {
            "request": request,
            "states": stack_states(listed.stacks, listed.env_vars),
            "env_vars": listed.env_vars,
            "memos": listed.memos,
        }
        each = GitStackSerializer(context=context)  # one serializer, each stack written as JSON
        response = Response([each.to_json(stack) for stack in listed.stacks])
        if total is not None:
            response["X-Total-Count"] = str(total)
        return response

    @extend_schema(request=GitStackSerializer, responses={201: GitStackSerializer}, parameters=[CHECK])
    def post(self, request: Request) -> Response:
        data = GitStackSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        environment = data.validated_data.get("environment") or local_environment()
        require(request.user, environment.pk, Membership.Role.ADMIN)
        check_source(request, data, environment)
        stack = stack_create(
            fields=data.model_fields(), repository_url=data.repository_url(), env_vars=data.env_var_inputs()
        )
        body = dict(GitStackSerializer(stack_queryset().get(pk=stack.pk), context={"request": request}).data)
        if data.validated_data.get("deployNow"):
            _queue(request, stack, body)
        return Response(body, status=status.HTTP_201_CREATED)


class StackDetail(APIView):
    @extend_schema(responses=GitStackSerializer)
    def get(self, request: Request, pk: int) -> Response:
        stack = visible_stacks(request, stack_queryset()).filter(pk=pk).first()
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        context = {"request": request, "states": stack_states([stack])}
        return Response(GitStackSerializer(stack, context=context).data)

    @extend_schema(request=GitStackSerializer(partial=True), responses=GitStackSerializer, parameters=[CHECK])
    def put(self, request: Request, pk: int) -> Response:
        stack = visible_stacks(request, stack_queryset()).filter(pk=pk).first()
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        require(request.user, stack.environment_id, Membership.Role.ADMIN)
        data = GitStackSerializer(stack, data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        if "environment" in data.validated_data:
            require(request.user, data.validated_data["environment"].pk, Membership.Role.ADMIN)
        check_source(request, data, data.validated_data.get("environment") or stack.environment)
        stack_update(
            stack=stack,
            fields=data.model_fields(),
            repository_url=data.repository_url(),
            env_vars=data.env_var_inputs(),
        )
        body = dict(GitStackSerializer(stack_queryset().get(pk=stack.pk), context={"request": request}).data)
        if data.validated_data.get("deployNow"):
            _queue(request, stack, body)
        return Response(body)

    @extend_schema(
        responses={
            200: detail("StackDeleted", success=serializers.BooleanField(), output=serializers.CharField()),
            500: ErrorSerializer,
        },
        parameters=[
            flag("removeContainers", "Also `docker compose down` its containers (default true)"),
            flag("removeHistory", "Also delete its deployments (default false)"),
        ],
    )
    def delete(self, request: Request, pk: int) -> Response:
        stack = visible_stacks(request, stack_queryset()).filter(pk=pk).first()
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        require(request.user, stack.environment_id, Membership.Role.ADMIN)
        try:
            output = stack_delete(
                stack=stack,
                remove_containers=query_bool(request, "removeContainers", True),
                remove_history=query_bool(request, "removeHistory", False),
            )
        except InUse as exc:
            return error(str(exc), status.HTTP_409_CONFLICT, cause=exc)
        except compose.ComposeError as exc:
            return error(
                f"Could not remove the stack's containers: {exc}", status.HTTP_500_INTERNAL_SERVER_ERROR, cause=exc
            )
        return Response({"success": True, "output": output})


def sync_result(deployment: Deployment) -> Response:
    """The spec §3 /sync answer for a deployment, finished or not."""
    base = {"deploymentId": deployment.pk, "commit": deployment.commit_sha or None, "output": deployment.output_text()}
    if deployment.status == Deployment.Status.SUCCESS:
        return Response(
            {"success": True, "deployed": True, "message": "Stack synced and deployed successfully", **base}
        )
    if deployment.status == Deployment.Status.SKIPPED:
        return Response({"success": True, "deployed": False, "message": deployment.note or UNCHANGED_NOTE, **base})
    if deployment.status == Deployment.Status.PENDING_APPROVAL:
        return Response(
            {"deploymentId": deployment.pk, "status": deployment.status, "message": AWAITING_APPROVAL},
            status=status.HTTP_202_ACCEPTED,
        )
    if deployment.status in (Deployment.Status.QUEUED, Deployment.Status.RUNNING):
        return Response({"deploymentId": deployment.pk, "status": deployment.status}, status=status.HTTP_202_ACCEPTED)
    code: int = status.HTTP_502_BAD_GATEWAY if deployment.remote_unreachable else status.HTTP_500_INTERNAL_SERVER_ERROR
    kind = "remote_unreachable" if deployment.remote_unreachable else "deploy_failed"
    if deployment.status == Deployment.Status.CANCELLED:
        code, kind = status.HTTP_409_CONFLICT, "cancelled"
    elif deployment.stack_id and GitStack.objects.filter(pk=deployment.stack_id, branch_missing=True).exists():
        kind = "branch_missing"  # the sync found the branch gone (its containers left running)
    body = {"success": False, "deployed": False, **error_body(deployment.error or deployment.status, code, code=kind)}
    return Response({**body, **base}, status=code)


class StackSync(APIView):
    """POST /api/git/stacks/<id>/sync: queue a sync and (by default) wait for it."""

    write_scope = ApiToken.Scope.WRITE

    @extend_schema(
        request=detail(
            "SyncRequest",
            force=serializers.BooleanField(required=False, help_text="Deploy even when nothing changed"),
            commit=serializers.CharField(required=False, help_text="Deploy this commit of the branch (7-64 hex)"),
        ),
        responses=SYNC_ANSWERS,
        parameters=[WAIT],
    )
    def post(self, request: Request, pk: int) -> Response:
        stack = visible_stacks(request, GitStack.objects).filter(pk=pk).first()
        if stack is None:
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        force = request.data.get("force", False) if isinstance(request.data, dict) else False
        if not isinstance(force, bool):
            return error(
                "force: must be true or false", status.HTTP_400_BAD_REQUEST, fields={"force": ["must be true or false"]}
            )
        pin = request.data.get("commit", "") if isinstance(request.data, dict) else ""
        if not isinstance(pin, str) or (pin and not COMMIT_ID.fullmatch(pin)):
            message = "must be a commit id (7 to 64 hexadecimal digits)"
            return error(f"commit: {message}", status.HTTP_400_BAD_REQUEST, fields={"commit": [message]})
        wait = query_bool(request, "wait", True)
        try:
            deployment = stack_sync(
                stack=stack, trigger=Deployment.Trigger.API, by=request.user, force=force, pin=pin, check_here=wait
            )
        except CommitNotOnBranch as exc:
            return error(f"commit: {exc}", status.HTTP_400_BAD_REQUEST, fields={"commit": [str(exc)]}, cause=exc)
        except git.GitError as exc:
            return error(
                str(exc), status.HTTP_502_BAD_GATEWAY if exc.unreachable else status.HTTP_409_CONFLICT, cause=exc
            )
        if not wait or deployment.status == Deployment.Status.PENDING_APPROVAL:
            return sync_result(deployment)
        return sync_result(deployment_wait(deployment=deployment, timeout=settings.SYNC_WAIT_TIMEOUT))


def _with_status(request: Request, deployments: Any) -> Any:
    """?status=failed (or failed,interrupted): a 400 naming the parameter for another word."""
    wanted = [w for w in request.query_params.get("status", "").split(",") if w]
    unknown = [w for w in wanted if w not in Deployment.Status.values]
    if unknown:
        message = f"must be one of {', '.join(Deployment.Status.values)}, not {unknown[0]!r}"
        raise ValidationError({"status": [message]})
    # Neither shown in a list: the resolved model (a page's worth of YAML) and the config.
    deployments = deployments.defer("resolved", "config")
    return deployments.filter(status__in=wanted) if wanted else deployments


DEPLOYMENT_PAGE = paged_of("DeploymentPage", DeploymentListSerializer)
STATUS_FILTER = OpenApiParameter(
    "status", str, description=f"Only these statuses, comma-separated ({', '.join(Deployment.Status.values)})"
)


class StackDeployments(APIView):
    @extend_schema(responses=DEPLOYMENT_PAGE, parameters=[*PAGE_PARAMETERS, STATUS_FILTER])
    def get(self, request: Request, pk: int) -> Response:
        if not visible_stacks(request, GitStack.objects).filter(pk=pk).exists():
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        return paged(request, _with_status(request, Deployment.objects.filter(stack_id=pk)), DeploymentListSerializer)


def visible_deployments(request: Request) -> Any:
    """The deployments of the stacks this caller may see (those of deleted stacks: owners only)."""
    allowed = visible_environment_ids(request.user, token_environment_ids(request))
    deployments = Deployment.objects.all()
    return deployments if allowed is None else deployments.filter(stack__environment_id__in=allowed)


class DeploymentList(APIView):
    """GET /api/deployments?status=&stackId=&environmentId=&limit=&offset=: every stack's
    deployments the caller may see, newest first, in the seed's paged shape."""

    @extend_schema(
        operation_id="deployments_list",
        responses=DEPLOYMENT_PAGE,
        parameters=[
            OpenApiParameter("limit", int, description="Rows in the page (1-100, default 20)"),
            PAGE_PARAMETERS[1],
            STATUS_FILTER,
            OpenApiParameter("stackId", int, description="Only this stack's"),
            OpenApiParameter("environmentId", int, description="Only the stacks of this environment"),
        ],
        summary="List the deployments of every stack",
    )
    def get(self, request: Request) -> Response:
        deployments = _with_status(request, visible_deployments(request))
        if "stackId" in request.query_params:
            deployments = deployments.filter(stack_id=query_int(request, "stackId", 0, maximum=2**62))
        if "environmentId" in request.query_params:
            environment = query_int(request, "environmentId", 0, maximum=2**62)
            deployments = deployments.filter(stack__environment_id=environment)
        return paged(request, deployments, DeploymentListSerializer, most=100)


def visible_deployment(request: Request, pk: int) -> Deployment | None:
    found: Deployment | None = visible_deployments(request).select_related("stack__environment").filter(pk=pk).first()
    return found


class DeploymentDetail(APIView):
    """GET one deployment; DELETE it (a token needs deploy:admin, as for any removal)."""

    @extend_schema(responses=DeploymentSerializer)
    def get(self, request: Request, pk: int) -> Response:
        deployment = visible_deployment(request, pk)
        if deployment is None:
            return error(DEPLOYMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        return Response(DeploymentSerializer(deployment).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Gone from the history (its output with it), kept in the audit log."""
        deployment = visible_deployment(request, pk)
        if deployment is None:
            return error(DEPLOYMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        deployment_delete(deployment=deployment, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentApprove(APIView):
    """POST /api/deployments/<id>/approve: an admin lets a pending deploy run."""

    write_scope = ApiToken.Scope.WRITE

    @extend_schema(request=None, responses={202: DEPLOYMENT_STATE})
    def post(self, request: Request, pk: int) -> Response:
        deployment = visible_deployment(request, pk)
        if deployment is None:
            return error(DEPLOYMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        deployment = deployment_approve(deployment=deployment, by=request.user)
        return Response({"deploymentId": deployment.pk, "status": deployment.status}, status=status.HTTP_202_ACCEPTED)


class DeploymentReject(APIView):
    """POST /api/deployments/<id>/reject {"reason"?}: an admin turns a pending deploy down."""

    write_scope = ApiToken.Scope.WRITE

    @extend_schema(
        request=detail("RejectRequest", reason=serializers.CharField(required=False, max_length=500)),
        responses=DeploymentSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        deployment = visible_deployment(request, pk)
        if deployment is None:
            return error(DEPLOYMENT_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        if not isinstance(reason, str) or len(reason) > 500:
            return error("reason: must be text of at most 500 characters", 400, fields={"reason": ["too long"]})
        deployment = deployment_reject(deployment=deployment, by=request.user, reason=plain_text(reason))
        return Response(DeploymentSerializer(deployment).data)


class StackWebhooks(APIView):
    """GET /api/git/stacks/<id>/webhooks: deliveries this stack received (own or fanned out)."""

    @extend_schema(
        responses=paged_of("WebhookDeliveryPage", WebhookDeliverySerializer),
        parameters=PAGE_PARAMETERS,
        summary="List the webhook deliveries of the stack",
    )
    def get(self, request: Request, pk: int) -> Response:
        if not visible_stacks(request, GitStack.objects).filter(pk=pk).exists():
            return error(STACK_NOT_FOUND, status.HTTP_404_NOT_FOUND)
        return paged(request, WebhookDelivery.objects.filter(stack_id=pk), WebhookDeliverySerializer)
