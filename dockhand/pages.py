"""List / create / edit / delete pages for the simple resources (credentials,
repositories, environments): validated by the API's serializer, saved by the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from rest_framework.serializers import ModelSerializer

from dockhand.errors import Forbidden, InUse, is_owner, require_superuser
from dockhand.forms import initial_values, validate


@dataclass(frozen=True)
class Resource:
    """What the pages of one resource need to know."""

    name: str  # "credential": URL names, templates "<app>/<name>_list.html" and "_form.html"
    plural: str
    app: str
    model: type[Model]
    serializer: type[ModelSerializer[Any]]
    data: Callable[[QueryDict], dict[str, Any]]  # API-shaped data from the form
    save: Callable[[Any, dict[str, Any]], Any]
    delete: Callable[[Any], None]
    # More context for the list and the form, for this request's user.
    page_context: Callable[[HttpRequest], dict[str, Any]] = lambda request: {}
    defaults: dict[str, str] = field(default_factory=dict)  # a new object's form values
    # What the caller may see (None: every row); the rest answers 404.
    visible: Callable[[HttpRequest], QuerySet[Any]] | None = None

    def template(self, page: str) -> str:
        return f"{self.app}/{self.name}_{page}.html"

    def objects(self, request: HttpRequest) -> QuerySet[Any]:
        return self.visible(request) if self.visible is not None else self.model._default_manager.all()


def urls(resource: Resource) -> list[Any]:
    """URL patterns for a resource's pages."""

    @login_required
    def listing(request: HttpRequest) -> HttpResponse:
        objects = resource.objects(request)
        context = {"objects": objects, "resource": resource, "can_manage": is_owner(request.user)}
        return render(request, resource.template("list"), {**context, **resource.page_context(request)})

    @login_required
    def form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
        instance = get_object_or_404(resource.objects(request), pk=pk) if pk else None
        shown = resource.serializer(instance) if instance else None
        values = initial_values(shown, **resource.defaults)
        context = {
            "object": instance,
            "resource": resource,
            "values": values,
            "errors": {},
            **resource.page_context(request),
        }
        if request.method != "POST":
            require_superuser(request.user)  # the styled 403: nothing here is theirs to change
            return render(request, resource.template("form"), context)
        # Several values of one name (checkboxes) one a line, as initial_values has lists.
        posted = {name: "\n".join(items) for name, items in request.POST.lists()}
        try:
            require_superuser(request.user)
        except Forbidden as exc:  # a page from before the role changed: keep what was typed
            context.update(values=posted, errors={"form": str(exc)})
            return render(request, resource.template("form"), context, status=403)
        serializer = resource.serializer(instance, data=resource.data(request.POST), partial=instance is not None)
        errors = validate(serializer)
        if errors:
            context.update(values=posted, errors=errors)
            return render(request, resource.template("form"), context, status=400)
        saved = resource.save(instance, dict(serializer.validated_data))
        name = getattr(saved or instance, "name", "")
        messages.success(request, f"{resource.name.capitalize()} {name} {'saved' if instance else 'created'}.")
        return redirect(f"{resource.name}-list")

    @login_required
    def delete(request: HttpRequest, pk: int) -> HttpResponse:
        instance = get_object_or_404(resource.objects(request), pk=pk)
        require_superuser(request.user)
        if request.method != "POST":
            return render(request, "confirm_delete.html", {"object": instance, "kind": resource.name})
        try:
            resource.delete(instance)
        except InUse as exc:
            return render(request, "message.html", {"title": "Not deleted", "message": str(exc)}, status=409)
        messages.success(request, f"{resource.name.capitalize()} {getattr(instance, 'name', '')} deleted.")
        return redirect(f"{resource.name}-list")

    return [
        path(f"{resource.plural}/", listing, name=f"{resource.name}-list"),
        path(f"{resource.plural}/new/", form, name=f"{resource.name}-new"),
        path(f"{resource.plural}/<int:pk>/edit/", form, name=f"{resource.name}-edit"),
        path(f"{resource.plural}/<int:pk>/delete/", delete, name=f"{resource.name}-delete"),
    ]
