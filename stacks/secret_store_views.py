"""Pages for secret stores: list, create, edit, delete (dockhand/pages.py) and test."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from dockhand.errors import require_superuser
from dockhand.pages import Resource
from stacks.api.secret_store_serializers import SecretStoreSerializer
from stacks.api.secret_stores import stores_visible
from stacks.models import SecretStore
from stacks.registry_views import environment_choices
from stacks.services.secret_stores import secret_store_delete, secret_store_save, secret_store_test


def _store_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {k: post.get(k, "").strip() for k in ("name", "url", "mount", "namespace")}
    data["kind"] = SecretStore.Kind.VAULT
    data["environmentIds"] = [int(v) if v.isdigit() else v for v in post.getlist("environmentIds")]
    login = post.get("login", "token")
    # Secret inputs are never pre-filled; an empty one means "keep what is stored".
    if login == "approle":
        data["roleId"] = post.get("roleId", "").strip()
        if post.get("secretId"):
            data["secretId"] = post["secretId"]
    elif post.get("token"):
        data["token"] = post["token"]
    return data


STORES = Resource(
    name="store",
    plural="secret-stores",
    app="stacks",
    model=SecretStore,
    serializer=SecretStoreSerializer,
    data=_store_data,
    save=lambda instance, fields: secret_store_save(store=instance, fields=fields),
    delete=lambda instance: secret_store_delete(store=instance),
    defaults={"mount": "secret"},
    page_context=environment_choices,
    visible=stores_visible,
)


@login_required
@require_POST
def store_test_view(request: HttpRequest, pk: int) -> HttpResponse:
    """HTMX: log in to the store as a deploy would; say what happened."""
    require_superuser(request.user)
    store = get_object_or_404(stores_visible(request), pk=pk)
    ok, message = secret_store_test(store=store)
    return render(request, "gitsync/_test_result.html", {"ok": ok, "message": message})
