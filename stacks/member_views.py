"""An environment's members page: roles and allowlist, for its admins and owners (the
same rule and services as `/api/environments/<id>/members`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dockhand.forms import checkbox, validate
from stacks.api.environment_serializers import MembershipSerializer
from stacks.models import Environment, Membership
from stacks.services.access import admin_environment_ids, is_admin_of, members_environment
from stacks.services.environments import environment_members, membership_delete, membership_save

ROLES = [
    (Membership.Role.VIEWER, "sees stacks, deployments and output"),
    (Membership.Role.DEPLOYER, "also syncs"),
    (Membership.Role.ADMIN, "also changes stacks and members"),
]


def _environment(request: HttpRequest, pk: int) -> Environment:
    """404 when the user may not see it, 403 (the styled page) when they do not administer it."""
    environment = members_environment(user=request.user, pk=pk)
    if environment is None:
        raise Http404
    return environment


def _render(request: HttpRequest, environment: Environment, **extra: Any) -> HttpResponse:
    context = {
        "environment": environment,
        "members": environment_members(environment),
        "roles": ROLES,
        "values": {"role": Membership.Role.VIEWER},
        "errors": {},
        **extra,
    }
    return render(request, "stacks/members.html", context, status=400 if context["errors"] else 200)


def _back(request: HttpRequest, environment: Environment, done: str) -> HttpResponse:
    """To the members page, saying what was done; to the environments when the user
    just gave up their own admin role (the members page would now be a 403)."""
    if not is_admin_of(admin_environment_ids(request.user), environment.pk):
        return redirect("environment-list")
    messages.success(request, done)
    return redirect("environment-members", pk=environment.pk)


@login_required
def member_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The members; a POST adds one or changes the role of one already there."""
    environment = _environment(request, pk)
    if request.method != "POST":
        return _render(request, environment)
    post = request.POST
    data = {
        "username": post.get("username", "").strip(),
        "role": post.get("role", ""),
        "allowlisted": checkbox(post, "allowlisted"),
    }
    serializer = MembershipSerializer(data=data)
    errors = validate(serializer)
    if errors:
        return _render(request, environment, values=data, errors=errors)
    membership = membership_save(environment=environment, **serializer.member_fields())
    return _back(request, environment, f"{membership.user.get_username()} is {membership.role} of {environment.name}.")


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    environment = _environment(request, pk)
    membership = get_object_or_404(environment_members(environment), user_id=user_id)
    membership_delete(membership=membership)
    return _back(request, environment, f"{membership.user.get_username()} is no longer a member of {environment.name}.")
