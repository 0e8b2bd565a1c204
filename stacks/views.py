"""Dashboard pages for stacks and deployments; they call the same services as the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dockhand.errors import Conflict, InUse
from dockhand.forms import checkbox, initial_values, optional_id, validate
from dockhand.pages import Resource
from gitsync.api.serializers import public_url
from gitsync.models import Credential, Repository
from gitsync.services.repositories import credential_save
from stacks import compose, engine
from stacks.api.environment_serializers import EnvironmentSerializer
from stacks.api.serializers import GitStackSerializer, validate_cron
from stacks.forms import (
    DEPLOY_FLAGS,
    SOURCE_FIELDS,
    inline_field,
    new_credential,
    notify_data,
    override_rows,
    source_feedback,
    source_report,
    stack_data,
    typed_source,
)
from stacks.models import (
    Deployment,
    Environment,
    GitStack,
    Membership,
    NotifyEvent,
    PullPolicy,
    default_notify_events,
)
from stacks.services.access import (
    admin_environment_ids,
    is_admin_of,
    may_review,
    require,
    visible_audit_events,
    visible_environment_ids,
)
from stacks.services.applied import stack_applied
from stacks.services.deployments import deployment_approve, deployment_reject
from stacks.services.environments import environment_delete, environment_save
from stacks.services.output import plain_text
from stacks.services.overview import STATES, overview
from stacks.services.revision import changes, stack_config
from stacks.services.schedules import CRON_PRESETS, next_runs
from stacks.services.source import SourceReport
from stacks.services.stacks import local_environment, stack_create, stack_delete, stack_queryset, stack_update
from stacks.services.status import stack_states, stack_workloads
from stacks.services.sync import stack_sync

ACTIVE = (GitStack.SyncStatus.QUEUED, GitStack.SyncStatus.SYNCING)
STACKS_PER_PAGE = 50


def visible_stacks(request: HttpRequest) -> Any:
    """Stacks of the environments this user may see."""
    allowed = visible_environment_ids(request.user)
    stacks = stack_queryset()
    return stacks if allowed is None else stacks.filter(environment_id__in=allowed)


def _filtered(request: HttpRequest) -> Any:
    stacks = visible_stacks(request)
    env = request.GET.get("environment", "")
    status = request.GET.get("status", "")
    if env.isdigit():
        stacks = stacks.filter(environment_id=int(env))
    if status in GitStack.SyncStatus.values:
        stacks = stacks.filter(sync_status=status)
    return stacks


def _rows_context(request: HttpRequest) -> dict[str, Any]:
    # One page of rows: the page costs the same with ten stacks or a thousand.
    last_message = Deployment.objects.filter(stack=OuterRef("pk"), deployed=True).order_by("-id")
    stacks = _filtered(request).annotate(last_message=Subquery(last_message.values("commit_message")[:1]))
    page = Paginator(stacks, STACKS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    # Poll fast while something runs, slowly otherwise (a sync may start elsewhere).
    poll = 1 if any(s.sync_status in ACTIVE for s in rows) else 5
    return {
        "stacks": rows,
        "page": page,
        "states": stack_states(rows),
        "poll": poll,
        "query": request.GET.urlencode(),
    }


@login_required
def stack_list(request: HttpRequest) -> HttpResponse:
    context = _rows_context(request)
    context.update(
        environments=Environment.objects.all(),
        statuses=GitStack.SyncStatus.values,
        chosen_env=request.GET.get("environment", ""),
        chosen_status=request.GET.get("status", ""),
        any_stack=GitStack.objects.exists(),
    )
    return render(request, "stacks/list.html", context)


@login_required
def overview_page(request: HttpRequest) -> HttpResponse:
    """The home page: how the user's stacks stand, what needs attention, what deployed
    lately, and their engines."""
    allowed = visible_environment_ids(request.user)
    environments = Environment.objects.order_by("name")
    deployments = Deployment.objects.filter(stack__isnull=False)
    if allowed is not None:
        environments = environments.filter(pk__in=allowed)
        deployments = deployments.filter(stack__environment_id__in=allowed)
    found = overview(visible_stacks(request).order_by("name"), environments, deployments)
    return render(request, "stacks/overview.html", {"overview": found, "states": STATES})


@login_required
def stack_rows(request: HttpRequest) -> HttpResponse:
    """The list's rows alone, for HTMX polling."""
    return render(request, "stacks/_rows.html", _rows_context(request))


@login_required
def stack_detail(request: HttpRequest, pk: int) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    return render(request, "stacks/detail.html", _detail_context(request, stack, page=request.GET.get("page")))


def _detail_context(
    request: HttpRequest, stack: GitStack, *, page: str | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    state = stack_states([stack])[stack.pk]
    # Saved but not deployed: the overrides, secrets and options changed since the last
    # deploy (nothing before the first one). The banner names them; the other reasons
    # (a new commit, a hand edit) stay in the out-of-sync line.
    pending = changes(stack.applied_config, stack_config(stack))
    return {
        "stack": stack,
        "history": Paginator(Deployment.objects.filter(stack=stack), 10).get_page(page),
        "webhook_url": public_url(request, f"/api/git/stacks/{stack.pk}/webhook"),
        # Shown to the stack's owners only: with it, a viewer could sign a push.
        "stack_admin": is_admin_of(admin_environment_ids(request.user), stack.environment_id),
        "notify_targets": GitStackSerializer().get_notifyTargets(stack),
        "env_vars": stack.env_vars.all(),
        "errors": errors or {},
        "state": state,
        "pending": pending,
        "other_reasons": [reason for reason in state.reasons if reason not in pending],
        "applied": stack_applied(stack=stack),
        "containers": _containers(stack),
    }


def _containers(stack: GitStack) -> Sequence[Any] | None:
    try:
        return stack_workloads(stack)
    except engine.EngineError:
        return None


def _form_context(
    stack: GitStack | None,
    values: dict[str, Any] | None,
    errors: dict[str, str],
    events: list[str] | None = None,
    *,
    report: SourceReport | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if events is None:
        events = list(stack.notify_events) if stack else default_notify_events()
    if values is None:
        shown = GitStackSerializer(stack) if stack else None
        values = initial_values(
            shown,
            composePath="compose.yaml",
            autoUpdateCron="0 3 * * *",
            repositoryId="new",
            pullPolicy="missing",
            healthTimeout="120",
        )
    return {
        "deploy_flags": DEPLOY_FLAGS,
        "pull_policies": PullPolicy.values,
        "stack": stack,
        "values": values,
        "errors": errors,
        "environments": Environment.objects.all(),
        "repositories": Repository.objects.all(),
        "credentials": Credential.objects.all(),
        "presets": CRON_PRESETS,
        "notify_events": [(e.value, e.label, e.value in events) for e in NotifyEvent],
        "notify_targets": GitStackSerializer().get_notifyTargets(stack) if stack else [],
        # What the remote said when the form was refused for it (and the way to save anyway).
        "feedback": source_feedback(report, errors, values),
        "source_refused": bool(report and report.problems),
        # A refused create keeps its overrides; secret values are typed again, never sent back.
        "overrides": overrides or [],
    }


@login_required
def stack_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create (pk None) or edit a stack; a repository and credential may be made inline,
    and a new stack's overrides given. Saved once the remote has the repository, branch
    and files it names (unless the user says to save anyway)."""
    stack = get_object_or_404(visible_stacks(request), pk=pk) if pk else None
    if stack is not None:
        require(request.user, stack.environment_id, Membership.Role.ADMIN)
    if request.method != "POST":
        return render(request, "stacks/form.html", _form_context(stack, None, {}))
    post = request.POST
    data = stack_data(post, creating=stack is None)
    overrides = override_rows(post) if stack is None else None
    if overrides is not None:
        data["envVars"] = overrides
    inline = new_credential(post)
    errors = {inline_field(k): v for k, v in validate(inline).items()} if inline else {}
    serializer = GitStackSerializer(stack, data=data, partial=stack is not None, context={"request": request})
    errors.update(validate(serializer))

    def refused(errors: dict[str, str], report: SourceReport | None = None) -> HttpResponse:
        context = _form_context(
            stack, post.dict(), errors, post.getlist("notifyEvents"), report=report, overrides=overrides
        )
        return render(request, "stacks/form.html", context, status=400)

    if errors:
        return refused(errors)
    environment = serializer.validated_data.get("environment")
    if environment is not None or stack is None:
        require(request.user, environment.pk if environment else local_environment().pk, Membership.Role.ADMIN)
    if not checkbox(post, "skipSourceCheck"):
        report = source_report(serializer.stack_source(), inline, environment or (stack.environment if stack else None))
        if report is not None and report.problems:
            return refused(report.problems, report)
    with transaction.atomic():
        if inline is not None:
            data["credentialId"] = credential_save(credential=None, fields=dict(inline.validated_data)).pk
            serializer = GitStackSerializer(stack, data=data, partial=stack is not None, context={"request": request})
            serializer.is_valid(raise_exception=True)
        if stack is None:
            stack = stack_create(
                fields=serializer.model_fields(),
                repository_url=serializer.repository_url(),
                env_vars=serializer.env_var_inputs(),
            )
        else:
            try:
                stack_update(stack=stack, fields=serializer.model_fields(), repository_url=serializer.repository_url())
            except Conflict as exc:  # a move that would strand its containers
                context = _form_context(stack, post.dict(), {"environmentId": str(exc)}, post.getlist("notifyEvents"))
                return render(request, "stacks/form.html", context, status=409)
    return redirect("stack-detail", pk=stack.pk)


@login_required
@require_POST
def stack_source_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """HTMX: as the stack form's repository, branch and paths change, what the remote
    has (its branches, the compose and env files of the branch) and what is wrong, as
    out-of-band swaps of the feedback under each field. Nothing is saved."""
    stack = get_object_or_404(visible_stacks(request), pk=pk) if pk else None
    post = request.POST
    chosen = optional_id(post, "environmentId")
    environment = Environment.objects.filter(pk=chosen).first() if isinstance(chosen, int) else None
    environment = environment or (stack.environment if stack else local_environment())
    require(request.user, environment.pk, Membership.Role.ADMIN)
    data = {k: v for k, v in stack_data(post, creating=stack is None).items() if k in SOURCE_FIELDS}
    inline = new_credential(post)
    report, note = None, ""
    source, errors = typed_source(GitStackSerializer(stack, data=data, partial=True), data)
    if source is not None and inline is not None and validate(inline):
        note = "Fill in the new credential to check the repository."
    elif source is not None:
        report = source_report(source, inline, environment)
    feedback = source_feedback(report, errors, post.dict(), note=note)
    return render(request, "stacks/_source_check.html", {"feedback": feedback})


@login_required
@require_POST
def stack_env(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the overrides editor: rows key/value/isSecret/remove; empty secret = keep."""
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    require(request.user, stack.environment_id, Membership.Role.ADMIN)
    serializer = GitStackSerializer(
        stack, data={"envVars": override_rows(request.POST)}, partial=True, context={"request": request}
    )
    errors = validate(serializer)
    if errors:
        return render(request, "stacks/detail.html", _detail_context(request, stack, errors=errors), status=400)
    stack_update(stack=stack, fields={}, env_vars=serializer.env_var_inputs())
    return redirect("stack-detail", pk=stack.pk)


@login_required
@require_POST
def stack_sync_view(request: HttpRequest, pk: int) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    try:
        deployment = stack_sync(
            stack=stack,
            trigger=Deployment.Trigger.MANUAL,
            by=request.user,
            force=checkbox(request.POST, "force"),
            check_here=True,
        )
    except Conflict as exc:  # the stack is busy
        return render(
            request, "message.html", {"title": "Already syncing", "message": str(exc), "back": stack}, status=409
        )
    return redirect("deployment-detail", pk=deployment.pk)


@login_required
def stack_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    require(request.user, stack.environment_id, Membership.Role.ADMIN)
    if request.method != "POST":
        return render(request, "confirm_delete.html", {"object": stack, "kind": "stack", "remove_option": True})
    try:
        stack_delete(
            stack=stack,
            remove_containers=checkbox(request.POST, "removeContainers"),
            remove_history=checkbox(request.POST, "removeHistory"),
        )
    except (InUse, compose.ComposeError) as exc:
        return render(request, "message.html", {"title": "Not deleted", "message": str(exc), "back": stack}, status=409)
    return redirect("stack-list")


def visible_deployment(request: HttpRequest, pk: int) -> Deployment:
    deployments = Deployment.objects.select_related("stack__environment")
    allowed = visible_environment_ids(request.user)
    if allowed is not None:
        deployments = deployments.filter(stack__environment_id__in=allowed)
    return get_object_or_404(deployments, pk=pk)


@login_required
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = visible_deployment(request, pk)
    lines_so_far = list(deployment.lines.all())
    context = {"deployment": deployment, "lines": lines_so_far, "last_seq": lines_so_far[-1].seq if lines_so_far else 0}
    if deployment.status == Deployment.Status.PENDING_APPROVAL and deployment.stack is not None:
        context["can_review"] = may_review(request.user, deployment.stack.environment)
    return render(request, "stacks/deployment.html", context)


@login_required
@require_POST
def deployment_review(request: HttpRequest, pk: int, verdict: str) -> HttpResponse:
    """Approve or reject a deploy waiting for approval (the buttons on its page)."""
    deployment = visible_deployment(request, pk)
    try:
        if verdict == "approve":
            deployment_approve(deployment=deployment, by=request.user)
        else:
            reason = plain_text(request.POST.get("reason", "").strip()[:500])
            deployment_reject(deployment=deployment, by=request.user, reason=reason)
    except Conflict as exc:
        return render(
            request, "message.html", {"title": "Not done", "message": str(exc), "back": deployment.stack}, status=409
        )
    return redirect("deployment-detail", pk=deployment.pk)


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit trail as far as the reader may read it, newest first, 50 to a page."""
    page = Paginator(visible_audit_events(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "audit.html", {"page": page})


@login_required
def cron_preview(request: HttpRequest) -> HttpResponse:
    """HTMX: the next three run times of the cron being typed."""
    cron = request.GET.get("autoUpdateCron", "").strip()
    try:
        validate_cron(cron)
    except Exception as exc:
        return render(request, "stacks/_cron_preview.html", {"error": " ".join(getattr(exc, "detail", [str(exc)]))})
    return render(request, "stacks/_cron_preview.html", {"runs": next_runs(cron, 3)})


def _environment_data(post: QueryDict) -> dict[str, Any]:
    return {
        "name": post.get("name", "").strip(),
        "dockerHost": post.get("dockerHost", "").strip(),
        "policy": post.get("policy", "privileged"),
        "hostPaths": [line.strip() for line in post.get("hostPaths", "").splitlines() if line.strip()],
        "protection": post.get("protection", "none"),
        "approvalRequired": checkbox(post, "approvalRequired"),
        "swarm": checkbox(post, "swarm"),
        "sshCredentialId": post.get("sshCredentialId") or None,
        **notify_data(post),
        # Write-only like every secret: empty boxes keep what is set.
        **{f"tls{k}": post[f"tls{k}"] for k in ("Ca", "Cert", "Key") if post.get(f"tls{k}", "").strip()},
        **({"tlsCa": "", "tlsCert": "", "tlsKey": ""} if checkbox(post, "clearTls") else {}),
    }


ENVIRONMENTS = Resource(
    name="environment",
    plural="environments",
    app="stacks",
    model=Environment,
    serializer=EnvironmentSerializer,
    data=_environment_data,
    page_context=lambda request: {
        # Where the Members button shows: the environments this user administers.
        "admin_of": admin_environment_ids(request.user),
        "notify_events": [(e.value, e.label) for e in NotifyEvent],
        "tls_fields": [("tlsCa", "CA certificate"), ("tlsCert", "Client certificate"), ("tlsKey", "Client key")],
        "ssh_credentials": Credential.objects.filter(auth_type=Credential.AuthType.SSH),
    },
    save=lambda instance, fields: environment_save(environment=instance, fields=fields),
    delete=lambda instance: environment_delete(environment=instance),
)
