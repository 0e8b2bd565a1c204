"""Users pages (owners only): the list, a new user, and one user's status, role and
password. Validated by the API's serializer, changed by the same services as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from rest_framework.exceptions import ValidationError

from dockhand.accounts import require_owner, user_create, user_update
from dockhand.forms import checkbox, flatten_errors, validate
from dockhand.users_api import UserSerializer


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    require_owner(request.user)
    users = get_user_model().objects.order_by("username")
    return render(request, "dockhand/user_list.html", {"users": users})


@login_required
def user_new(request: HttpRequest) -> HttpResponse:
    require_owner(request.user)
    if request.method != "POST":
        return render(request, "dockhand/user_form.html", {"values": {}, "errors": {}})
    post = request.POST
    serializer = UserSerializer(
        data={
            "username": post.get("username", "").strip(),
            "password": post.get("password", ""),
            "isOwner": checkbox(post, "isOwner"),
        }
    )
    errors = validate(serializer)
    if not errors:
        try:
            user = user_create(**serializer.creation())
        except ValidationError as exc:
            errors = flatten_errors(exc.detail)
    if errors:
        # Typed input is kept, except the password: a page never sends one back.
        values = {"username": post.get("username", ""), "isOwner": checkbox(post, "isOwner")}
        return render(request, "dockhand/user_form.html", {"values": values, "errors": errors}, status=400)
    messages.success(request, f"User {user.get_username()} created.")
    return redirect("user-list")


def _changes(post: QueryDict) -> dict[str, Any]:
    """API-shaped data from whichever of the user page's forms was posted."""
    data: dict[str, Any] = {}
    for name in ("isActive", "isOwner"):
        if name in post:
            data[name] = post[name] == "true"
    if "password" in post:
        data["password"] = post["password"]
    return data


@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One user: activate or deactivate, make or unmake an owner, reset the password."""
    require_owner(request.user)
    user = get_object_or_404(get_user_model(), pk=pk)
    context: dict[str, Any] = {"account": user, "errors": {}, "is_me": user.pk == request.user.pk}
    if request.method != "POST":
        return render(request, "dockhand/user_detail.html", context)
    serializer = UserSerializer(user, data=_changes(request.POST), partial=True)
    errors = validate(serializer)
    if not errors:
        try:
            user_update(user=user, by=request.user, **serializer.changes())
        except ValidationError as exc:
            errors = flatten_errors(exc.detail)
    if errors:
        user.refresh_from_db()
        context["errors"] = errors
        return render(request, "dockhand/user_detail.html", context, status=400)
    done = "Password reset" if "password" in request.POST else "Saved"
    messages.success(request, f"{done}: {user.get_username()}.")
    return redirect("user-detail", pk=user.pk)
