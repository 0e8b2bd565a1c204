"""Registry pages: list, create, edit, delete (dockhand/pages.py) and the test button."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from dockhand.errors import require_superuser
from dockhand.pages import Resource
from stacks.api.registries import registries_visible
from stacks.api.registry_serializers import RegistrySerializer
from stacks.models import Environment, Registry
from stacks.services.registries import registry_delete, registry_save, registry_test


def _data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {k: post.get(k, "").strip() for k in ("name", "url", "username")}
    if post.get("password"):  # never shown back: empty keeps the stored one
        data["password"] = post["password"]
    data["environmentIds"] = [int(v) if v.isdigit() else v for v in post.getlist("environmentIds")]
    return data


REGISTRIES = Resource(
    name="registry",
    plural="registries",
    app="stacks",
    model=Registry,
    serializer=RegistrySerializer,
    data=_data,
    save=lambda instance, fields: registry_save(instance=instance, fields=fields),
    delete=lambda instance: registry_delete(instance=instance),
    page_context=lambda request: {
        "environments": list(Environment.objects.values_list("pk", "name")),
        "environment_names": dict(Environment.objects.values_list("pk", "name")),
    },
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
