"""Bearer-token authentication and scope checks for the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from dockhand import audit, ratelimit
from dockhand.models import ApiToken, token_hash

# last_used_at is informational: one write a minute per token, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer dh_…`."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        ip = ratelimit.client_ip(request._request)
        if ratelimit.peek("bad_tokens", ip).exhausted:
            raise exceptions.Throttled(
                wait=ratelimit.peek("bad_tokens", ip).retry_after,
                detail="Too many invalid API tokens from this address",
            )
        raw = header[len("Bearer ") :].strip()
        token = ApiToken.objects.select_related("user").filter(digest=token_hash(raw)).first()
        if token is None or token.expired or not token.user.is_active:
            ratelimit.hit("bad_tokens", ip)
            raise exceptions.AuthenticationFailed("Invalid or expired API token")
        audit.set_actor(f"token:{token.name}", user=token.user)
        calls = ratelimit.hit("token_calls", str(token.pk))
        request._request.dockhand_ratelimit = calls  # type: ignore[attr-defined]
        if calls.used > calls.limit:
            raise exceptions.Throttled(wait=calls.retry_after, detail="Too many requests with this API token")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="dockhand"'


class TokenScopes(BasePermission):
    """Tokens act within their scopes: reads need deploy:read; a view's unsafe methods
    need its `write_scope` (deploy:admin unless the view says deploy:write)."""

    message = "This API token's scopes do not allow this request"

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True  # cookie sessions: no scopes
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_scope", ApiToken.Scope.READ)
        else:
            needed = getattr(view, "write_scope", ApiToken.Scope.ADMIN)
        return token.allows(needed)


def token_environment_ids(request: Request) -> list[int] | None:
    """The environments a token is limited to (None: all, or a cookie session)."""
    token = request.auth
    if isinstance(token, ApiToken) and token.environment_ids is not None:
        return [int(i) for i in token.environment_ids]
    return None
