"""The stack page's containers section: the list with usage (polled by HTMX) and the
start / stop / restart buttons; they call the same services as the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dockhand.errors import Conflict
from stacks import engine
from stacks.services.containers import ContainerMissing, container_operate, container_usage
from stacks.services.status import stack_workloads
from stacks.templatetags.stack_containers import container_list_context
from stacks.views import visible_stacks


@login_required
def stack_containers_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The containers with uptime, CPU and memory: the part of the stack page HTMX refreshes."""
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    try:
        workloads = stack_workloads(stack)
        usage = container_usage(stack=stack, containers=workloads)
    except engine.EngineError:
        return render(request, "stacks/_container_list.html", container_list_context(request.user, stack, None))
    return render(request, "stacks/_container_list.html", container_list_context(request.user, stack, workloads, usage))


@login_required
@require_POST
def container_operation_view(request: HttpRequest, pk: int, ref: str, action: str) -> HttpResponse:
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    try:
        container_operate(stack=stack, ref=ref, action=action, by=request.user)
    except (Conflict, ContainerMissing, engine.EngineError) as exc:
        status = 404 if isinstance(exc, ContainerMissing) else 409
        context = {"title": f"Could not {action} the container", "message": str(exc), "back": stack}
        return render(request, "message.html", context, status=status)
    return redirect(reverse("stack-detail", args=[stack.pk]) + "#containers-section")
