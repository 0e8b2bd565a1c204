"""API token pages: a user's own tokens (as the API lists them), a new one shown once,
revoking one. The environments offered are those the user may see."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control

from dockhand.accounts import token_create, token_revoke, user_tokens
from dockhand.forms import validate
from dockhand.models import ApiToken
from stacks.api.tokens import TokenSerializer
from stacks.models import Environment
from stacks.services.access import visible_environment_ids

SCOPES = [
    (ApiToken.Scope.READ, "Read", "look at stacks, deployments and their output"),
    (ApiToken.Scope.WRITE, "Deploy", "also sync, roll back, cancel, start and stop stacks"),
    (ApiToken.Scope.ADMIN, "Admin", "also manage credentials, repositories, environments, stacks and tokens"),
]


def _environments(request: HttpRequest) -> Any:
    allowed = visible_environment_ids(request.user)
    return Environment.objects.all() if allowed is None else Environment.objects.filter(pk__in=allowed)


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    names = dict(_environments(request).values_list("pk", "name"))
    labels = {scope: label for scope, label, _ in SCOPES}
    rows = [
        {
            "token": token,
            "scopes": [labels.get(s, s) for s in token.scopes],
            "environments": None
            if token.environment_ids is None
            else [names.get(int(i), f"#{i}") for i in token.environment_ids],
        }
        for token in user_tokens(request.user)
    ]
    return render(request, "stacks/token_list.html", {"rows": rows})


def _expires_at(raw: str) -> datetime | str | None:
    """The date picked means "expires when that day begins" (the server's time zone); a
    value that is no date goes on to the serializer, which names the field."""
    if not raw.strip():
        return None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return raw
    return timezone.make_aware(datetime.combine(day, time.min))


def _token_data(post: QueryDict) -> dict[str, Any]:
    """API-shaped data from the form: no environment ticked means every one the user sees."""
    picked = [int(i) if i.isdigit() else i for i in post.getlist("environmentIds")]
    return {
        "name": post.get("name", "").strip(),
        "scopes": [post["scope"]] if post.get("scope") else [],
        "environmentIds": picked or None,
        "expiresAt": _expires_at(post.get("expiresAt", "")),
    }


@login_required
def token_new(request: HttpRequest) -> HttpResponse:
    """The form; once valid, the page that shows the token, this once."""
    context: dict[str, Any] = {
        "scopes": SCOPES,
        "environments": _environments(request),
        "tomorrow": (timezone.localdate() + timedelta(days=1)).isoformat(),
        "values": {"scope": ApiToken.Scope.READ, "environmentIds": []},
        "errors": {},
    }
    if request.method != "POST":
        return render(request, "stacks/token_form.html", context)
    post = request.POST
    serializer = TokenSerializer(data=_token_data(post), context={"user": request.user})
    errors = validate(serializer)
    if errors:
        context["values"] = {**post.dict(), "environmentIds": post.getlist("environmentIds")}
        context["errors"] = errors
        return render(request, "stacks/token_form.html", context, status=400)
    token, raw = token_create(user=request.user, **serializer.validated_data)
    response = render(request, "stacks/token_created.html", {"token": token, "raw": raw})
    # Not kept by the browser: Back must not show the token again from its cache.
    patch_cache_control(response, no_store=True)
    return response


@login_required
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first; then anything still using the token gets 401."""
    token = get_object_or_404(user_tokens(request.user), pk=pk)
    if request.method != "POST":
        return render(request, "stacks/token_revoke.html", {"token": token})
    token_revoke(token=token)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("token-list")
