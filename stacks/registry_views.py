"""Registry pages: list, create, edit, delete (dockhand/pages.py) and the test button;
and a stack page's "check images" button (asks the registries, as status?refresh=true)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from dockhand.errors import require_superuser
from dockhand.pages import Resource
from stacks.api.registries import registries_visible
from stacks.api.registry_serializers import RegistrySerializer
from stacks.models import Environment, Membership, Registry
from stacks.services.access import require
from stacks.services.images import image_updates, stack_images_refresh
from stacks.services.registries import registry_delete, registry_save, registry_test
from stacks.views import visible_stacks


def _data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {k: post.get(k, "").strip() for k in ("name", "url", "username")}
    if post.get("password"):  # never shown back: empty keeps the stored one
        data["password"] = post["password"]
    data["environmentIds"] = [int(v) if v.isdigit() else v for v in post.getlist("environmentIds")]
    return data


def environment_choices(request: HttpRequest) -> dict[str, object]:
    """What a form that scopes an object to environments offers (registries, secret
    stores): the environments, in one query, and their names by id for the list."""
    pairs = list(Environment.objects.values_list("pk", "name"))
    return {"environments": pairs, "environment_names": dict(pairs)}


REGISTRIES = Resource(
    name="registry",
    plural="registries",
    app="stacks",
    model=Registry,
    serializer=RegistrySerializer,
    data=_data,
    save=lambda instance, fields: registry_save(instance=instance, fields=fields),
    delete=lambda instance: registry_delete(instance=instance),
    page_context=environment_choices,
    visible=registries_visible,
)


@login_required
@require_POST
def registry_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    """HTMX: log in to the registry now; say what happened."""
    require_superuser(request.user)
    instance = get_object_or_404(registries_visible(request), pk=pk)
    ok, message = registry_test(instance=instance)
    return render(request, "gitsync/_test_result.html", {"ok": ok, "message": message})


@login_required
@require_POST
def stack_images_check_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask each registry now for the digests of the tags the stack runs; say what it found."""
    stack = get_object_or_404(visible_stacks(request), pk=pk)
    require(request.user, stack.environment_id, Membership.Role.DEPLOYER)
    for problem in stack_images_refresh(stack=stack):
        messages.warning(request, problem)
    newer = [f"{u['image']} ({u['service']})" for u in image_updates(stack)]
    messages.info(request, f"Newer images: {', '.join(newer)}." if newer else "Every image is the newest of its tag.")
    return redirect("stack-detail", pk=stack.pk)
