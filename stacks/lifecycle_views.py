"""Dashboard buttons for rollback, resume, cancel, start/stop/restart/down and the
notification test; they call the same services as the API."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dockhand.errors import Conflict, require_superuser
from dockhand.forms import checkbox
from gitsync import git
from stacks import compose
from stacks.deployment_views import visible_deployment
from stacks.models import Environment, GitStack, Membership
from stacks.services.abilities import stack_abilities
from stacks.services.access import require
from stacks.services.deployments import deployment_cancel
from stacks.services.diff import stack_diff
from stacks.services.environments import environment_engine_check
from stacks.services.notifications import notify_test
from stacks.services.operations import stack_operate
from stacks.services.rollback import stack_resume, stack_rollback
from stacks.views import visible_stacks


def _refused(request: HttpRequest, stack: GitStack | None, title: str, exc: Exception) -> HttpResponse:
    return render(request, "message.html", {"title": title, "message": str(exc), "back": stack}, status=409)


@login_required
@require_POST
def stack_rollback_view(request: HttpRequest, pk: int) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    try:
        chosen = request.POST.get("deployment", "")
        deployment = stack_rollback(
            stack=stack, by=request.user, deployment_id=int(chosen) if chosen.isdigit() else None
        )
    except Conflict as exc:
        return _refused(request, stack, "Not rolled back", exc)
    return redirect("deployment-detail", pk=deployment.pk)


@login_required
@require_POST
def stack_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    require(request.user, stack.environment_id, Membership.Role.ADMIN)
    stack_resume(stack=stack)
    return redirect("stack-detail", pk=stack.pk)


@login_required
@require_POST
def stack_operation_view(request: HttpRequest, pk: int, operation: str) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    require(request.user, stack.environment_id, Membership.Role.DEPLOYER)
    try:
        stack_operate(
            stack=stack,
            operation=operation,
            by=request.user,
            volumes=checkbox(request.POST, "volumes"),
            images=checkbox(request.POST, "images"),
        )
    except (Conflict, compose.ComposeError) as exc:
        return _refused(request, stack, f"Could not {operation} the stack", exc)
    return redirect("stack-detail", pk=stack.pk)


@login_required
@require_POST
def deployment_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = visible_deployment(request, pk)
    try:
        deployment_cancel(deployment=deployment, by=request.user)
    except Conflict as exc:
        deployment.refresh_from_db(fields=["status"])
        if not deployment.is_finished:
            return _refused(request, deployment.stack, "Not cancelled", exc)
        # It ended while the page was open (a page without script still shows Cancel).
        messages.info(request, f"Deployment #{deployment.number} had already ended: {deployment.status}.")
    return redirect("deployment-detail", pk=deployment.pk)


@login_required
def stack_diff_view(request: HttpRequest, pk: int) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    can = stack_abilities(request.user, stack)
    try:
        context = {"stack": stack, "can": can, "diff": stack_diff(stack=stack)}
    except git.GitError as exc:
        context = {"stack": stack, "can": can, "error": str(exc)}
    return render(request, "stacks/diff.html", context)


@login_required
@require_POST
def stack_notify_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The "send test" button: what each notification URL did, on a page of its own."""
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    require(request.user, stack.environment_id, Membership.Role.ADMIN)
    return _notify_test_page(request, stack, stack=stack)


@login_required
@require_POST
def environment_notify_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_superuser(request.user)
    environment = get_object_or_404(Environment, pk=pk)
    return _notify_test_page(request, None, environment=environment)


def _notify_test_page(request: HttpRequest, back: GitStack | None, **owner: GitStack | Environment) -> HttpResponse:
    """What each notification URL did with the test message, on a page of its own."""
    try:
        problems = notify_test(**owner)  # type: ignore[arg-type]
    except ValueError as exc:
        return render(request, "message.html", {"title": "Nothing sent", "message": str(exc), "back": back}, status=400)
    message = "; ".join(problems) if problems else "Every notification URL took the test message."
    title = "Some URLs failed" if problems else "Test notification sent"
    return render(request, "message.html", {"title": title, "message": message, "back": back})


@login_required
@require_POST
def environment_engine_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The "test connection" button: the engine's version, or why it cannot be reached."""
    require_superuser(request.user)
    environment = get_object_or_404(Environment, pk=pk)
    reachable, detail = environment_engine_check(environment)
    title = f"{environment.name}: engine reachable" if reachable else f"{environment.name}: engine not reachable"
    return render(request, "message.html", {"title": title, "message": detail}, status=200 if reachable else 502)
