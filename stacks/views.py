"""Dashboard pages for stacks (overview, list, page, form, overrides, sync, delete);
they call the same services as the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dockhand.errors import Conflict, Forbidden, InUse
from dockhand.forms import checkbox, initial_values, optional_id, validate
from gitsync.api.serializers import public_url
from gitsync.models import Credential, Repository
from gitsync.services.repositories import credential_save
from stacks import compose, engine
from stacks.api.serializers import GitStackSerializer, validate_cron
from stacks.forms import (
    DEPLOY_FLAGS,
    REF_PREFIX,
    SOURCE_FIELDS,
    inline_field,
    new_credential,
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
from stacks.page_actions import stack_page_actions
from stacks.services.abilities import may_add_stacks, stack_abilities, stack_environments
from stacks.services.access import (
    admin_environment_ids,
    deploy_needs_approval,
    is_admin_of,
    require,
    visible_environment_ids,
    visible_environments,
)
from stacks.services.applied import stack_applied
from stacks.services.images import image_reasons
from stacks.services.overview import STATES, overview
from stacks.services.progress import CANCELLABLE
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
    search = request.GET.get("q", "").strip()[:200]
    if env.isdigit():
        stacks = stacks.filter(environment_id=int(env))
    if status in GitStack.SyncStatus.values:
        stacks = stacks.filter(sync_status=status)
    if search:
        stacks = stacks.filter(
            Q(name__icontains=search)
            | Q(repository__url__icontains=search)
            | Q(repository__name__icontains=search)
            | Q(branch__icontains=search)
        )
    return stacks


def _may_sync(request: HttpRequest, environments: set[Environment]) -> set[int]:
    """The environments where the list offers Sync (a deploy, or a request for one)."""
    allowed = set()
    for environment in environments:
        try:
            deploy_needs_approval(request.user, environment)
        except Forbidden:
            continue
        allowed.add(environment.pk)
    return allowed


def _rows_context(request: HttpRequest) -> dict[str, Any]:
    # One page of rows: the page costs the same with ten stacks or a thousand.
    last_message = Deployment.objects.filter(stack=OuterRef("pk"), deployed=True).order_by("-id")
    current = Deployment.objects.filter(stack=OuterRef("pk"), status__in=CANCELLABLE).order_by("-id")
    stacks = _filtered(request).annotate(
        last_message=Subquery(last_message.values("commit_message")[:1]),
        current_deployment=Subquery(current.values("pk")[:1]),
    )
    page = Paginator(stacks, STACKS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    # Poll fast while something runs, slowly otherwise (a sync may start elsewhere).
    poll = 1 if any(s.sync_status in ACTIVE or s.current_deployment for s in rows) else 5
    filters = request.GET.copy()
    filters.pop("page", None)
    return {
        "stacks": rows,
        "page": page,
        "states": stack_states(rows),
        "may_sync": _may_sync(request, {s.environment for s in rows}),
        "poll": poll,
        "query": request.GET.urlencode(),
        "filters": filters.urlencode(),
        "searched": bool(request.GET.get("q", "").strip()),
    }


@login_required
def stack_list(request: HttpRequest) -> HttpResponse:
    context = _rows_context(request)
    context.update(
        environments=Environment.objects.all(),
        statuses=GitStack.SyncStatus.values,
        chosen_env=request.GET.get("environment", ""),
        chosen_status=request.GET.get("status", ""),
        chosen_search=request.GET.get("q", "").strip()[:200],
        any_stack=GitStack.objects.exists(),
        can_add=may_add_stacks(request.user),
    )
    return render(request, "stacks/list.html", context)


@login_required
def overview_page(request: HttpRequest) -> HttpResponse:
    """The home page: how the user's stacks stand, what needs attention, what deployed
    lately, and their engines."""
    environments = visible_environments(request.user).order_by("name")
    deployments = Deployment.objects.filter(stack__environment__in=environments)
    found = overview(visible_stacks(request).order_by("name"), environments, deployments)
    context = {"overview": found, "states": STATES, "can_add": may_add_stacks(request.user)}
    return render(request, "stacks/overview.html", context)


@login_required
def stack_rows(request: HttpRequest) -> HttpResponse:
    """The list's rows alone, for HTMX polling."""
    return render(request, "stacks/_rows.html", _rows_context(request))


@login_required
def stack_detail(request: HttpRequest, pk: int) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    return render(request, "stacks/detail.html", _detail_context(request, stack, page=request.GET.get("page")))


@login_required
def stack_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The stack page's status block alone (and its header badges), for HTMX polling."""
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    return render(request, "stacks/_stack_status_poll.html", _status_context(request, stack))


def _status_context(request: HttpRequest, stack: GitStack) -> dict[str, Any]:
    """What the stack page's status block shows: state and health, the last sync, the
    deployed commit, the run in progress, the banners (their buttons as the user may)."""
    state = stack_states([stack])[stack.pk]
    # Saved but not deployed: the overrides, secrets and options changed since the last
    # deploy (nothing before the first one). The banner names them; the other reasons
    # (a new commit, a hand edit) stay in the out-of-sync line.
    # (A tag that moved at its registry is no saved change: it is told as out of sync.)
    pending = [r for r in changes(stack.applied_config, stack_config(stack)) if r not in image_reasons(stack)]
    latest = Deployment.objects.filter(stack=stack).first()
    running = latest is not None and latest.status in CANCELLABLE
    deployed = Deployment.objects.filter(stack=stack, deployed=True).values_list("commit_message", flat=True)
    return {
        "stack": stack,
        "can": stack_abilities(request.user, stack),
        "state": state,
        "pending": pending,
        "other_reasons": [reason for reason in state.reasons if reason not in pending],
        "latest": latest,
        "current": latest if running else None,
        "deployed_message": (deployed.first() or "").split("\n", 1)[0],
        # Often while something runs, so its end shows at once; slowly otherwise (a sync
        # may start elsewhere: a push, the schedule, another user).
        "status_poll": 1 if running or stack.sync_status in ACTIVE else 5,
    }


def _detail_context(
    request: HttpRequest,
    stack: GitStack,
    *,
    page: str | None = None,
    errors: dict[str, str] | None = None,
    posted_rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The stack page; with `posted_rows`, the overrides editor shows what was typed
    (a refused or invalid save) instead of what is stored."""
    history = Paginator(Deployment.objects.filter(stack=stack), 10).get_page(page)
    return {
        **_status_context(request, stack),
        "history": history,
        **stack_page_actions(request.user, stack, history),
        "webhook_url": public_url(request, f"/api/git/stacks/{stack.pk}/webhook"),
        # Shown to the stack's owners only: with it, a viewer could sign a push.
        "stack_admin": is_admin_of(admin_environment_ids(request.user), stack.environment_id),
        "notify_targets": GitStackSerializer().get_notifyTargets(stack),
        "env_rows": posted_rows if posted_rows is not None else _stored_rows(stack),
        "env_posted": posted_rows is not None,
        "errors": errors or {},
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
        "credentials": Credential.objects.exclude(auth_type=Credential.AuthType.AGE),
        "age_keys": Credential.objects.filter(auth_type=Credential.AuthType.AGE),
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
    and files it names (unless the user says to save anyway). Refused or invalid, the
    form comes back with what was typed (secrets excepted)."""
    stack = get_object_or_404(visible_stacks(request), pk=pk) if pk else None

    def again(values: dict[str, Any] | None, errors: dict[str, str], status: int = 200) -> HttpResponse:
        events = None if values is None else request.POST.getlist("notifyEvents")
        context = _form_context(stack, values, errors, events)
        context["environments"] = stack_environments(request.user)  # where this user may put it
        return render(request, "stacks/form.html", context, status=status)

    if request.method != "POST":
        if stack is not None:
            require(request.user, stack.environment_id, Membership.Role.ADMIN)
        elif not may_add_stacks(request.user):
            raise Forbidden("Your role does not allow adding stacks (needs admin of an environment)")
        return again(None, {})
    post = request.POST
    not_theirs = _refusal(request.user, stack, post)
    if not_theirs:  # a page from before the role changed, or an environment not theirs
        return again(post.dict(), not_theirs, status=403)
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
        context["environments"] = stack_environments(request.user)
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
            done = f"Stack {stack.name} created. Press Sync to deploy it."
        else:
            try:
                stack_update(stack=stack, fields=serializer.model_fields(), repository_url=serializer.repository_url())
            except Conflict as exc:  # a move that would strand its containers
                return again(post.dict(), {"environmentId": str(exc)}, status=409)
            done = f"Stack {stack.name} saved."
    messages.success(request, done)
    return redirect("stack-detail", pk=stack.pk)


def _refusal(user: Any, stack: GitStack | None, post: QueryDict) -> dict[str, str]:
    """Why `user` may not save the stack form ({field: message}), asked before anything
    is checked or saved: admin of the stack's environment, and of the one it goes to."""
    try:
        if stack is not None:
            require(user, stack.environment_id, Membership.Role.ADMIN)
    except Forbidden as exc:
        return {"form": str(exc)}
    chosen = optional_id(post, "environmentId")
    if stack is None or (isinstance(chosen, int) and chosen != stack.environment_id):
        try:
            require(user, chosen if isinstance(chosen, int) else local_environment().pk, Membership.Role.ADMIN)
        except Forbidden as exc:
            return {"environmentId": str(exc)}
    return {}


def _stored_rows(stack: GitStack) -> list[dict[str, Any]]:
    """The overrides editor's rows as stored; a secret's value never reaches the page."""
    return [
        {
            "key": v.key,
            "value": v.secret_ref or ("" if v.is_secret else v.value),
            "secret": v.is_secret,
            "stored": v.is_secret,
            "ref": bool(v.secret_ref),  # a reference is shown: the value is the store's
        }
        for v in stack.env_vars.all()
    ]


def _posted_rows(post: QueryDict, stack: GitStack) -> list[dict[str, Any]]:
    """The editor's rows as posted (row/key/value/secret/remove), blank rows left out;
    `typed` is the value as typed, which the page never shows back for a secret."""
    stored = set(stack.env_vars.filter(is_secret=True).values_list("key", flat=True))
    secret, remove = set(post.getlist("secret")), set(post.getlist("remove"))
    rows = []
    for key, value, index in zip(post.getlist("key"), post.getlist("value"), post.getlist("row"), strict=False):
        if not key.strip() and not value:
            continue
        is_secret = index in secret
        ref = value.strip().startswith(REF_PREFIX)
        rows.append(
            {
                "key": key.strip(),
                "value": "" if is_secret and not ref else value,
                "ref": ref,
                "typed": value,
                "secret": is_secret,
                "remove": index in remove,
                "stored": is_secret and key.strip() in stored,
            }
        )
    return rows


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
    """Save the overrides editor: rows key/value/isSecret/remove; empty secret = keep.
    Refused or invalid, the page comes back with the rows as typed."""
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    rows = _posted_rows(request.POST, stack)
    try:
        require(request.user, stack.environment_id, Membership.Role.ADMIN)
    except Forbidden as exc:  # a page from before the role changed
        context = _detail_context(request, stack, errors={"form": str(exc)}, posted_rows=rows)
        return render(request, "stacks/detail.html", context, status=403)
    serializer = GitStackSerializer(
        stack, data={"envVars": override_rows(request.POST)}, partial=True, context={"request": request}
    )
    errors = validate(serializer)
    if errors:
        context = _detail_context(request, stack, errors=errors, posted_rows=rows)
        return render(request, "stacks/detail.html", context, status=400)
    stack_update(stack=stack, fields={}, env_vars=serializer.env_var_inputs())
    messages.success(request, "Overrides saved.")
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
    messages.success(request, f"Stack {stack.name} deleted.")
    return redirect("stack-list")


@login_required
def cron_preview(request: HttpRequest) -> HttpResponse:
    """HTMX: the next three run times of the cron being typed."""
    cron = request.GET.get("autoUpdateCron", "").strip()
    try:
        validate_cron(cron)
    except Exception as exc:
        return render(request, "stacks/_cron_preview.html", {"error": " ".join(getattr(exc, "detail", [str(exc)]))})
    return render(request, "stacks/_cron_preview.html", {"runs": next_runs(cron, 3)})
