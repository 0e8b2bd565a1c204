"""Pages of one deployment (its live output, approval) and of the audit trail; they
call the same services as the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dockhand.errors import Conflict
from stacks.models import Deployment
from stacks.services.abilities import deployment_abilities
from stacks.services.access import visible_audit_events, visible_environment_ids
from stacks.services.deployments import deployment_approve, deployment_reject
from stacks.services.output import plain_text
from stacks.services.progress import deployment_state


def visible_deployment(request: HttpRequest, pk: int) -> Deployment:
    deployments = Deployment.objects.select_related("stack__environment", "retry_of", "rollback_to")
    allowed = visible_environment_ids(request.user)
    if allowed is not None:
        deployments = deployments.filter(stack__environment_id__in=allowed)
    return get_object_or_404(deployments, pk=pk)


@login_required
def deployment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = visible_deployment(request, pk)
    lines_so_far = list(deployment.lines.all())
    can = deployment_abilities(request.user, deployment)
    context = {
        "deployment": deployment,
        "state": deployment_state(deployment),
        "lines": lines_so_far,
        "last_seq": lines_so_far[-1].seq if lines_so_far else 0,
        "can": can,
        "can_review": can.review,
    }
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
