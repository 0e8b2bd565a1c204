"""API plumbing shared by the apps: the `{"error": …}` envelope, login, list and item views."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth import login, logout
from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ModelSerializer
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from dockhand import audit
from dockhand.errors import Busy, Conflict, Forbidden, InUse, require_superuser
from dockhand.logins import LoginForm
from dockhand.openapi import SUCCESS, ErrorSerializer, detail


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
        return "Invalid input"
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input"
    return str(detail)


def _field_errors(detail: Any) -> dict[str, Any]:
    if not isinstance(detail, dict):
        return {}
    return {key: value for key, value in detail.items() if key != "non_field_errors"}


log = logging.getLogger(__name__)

# The stable, machine-readable `code` of an error body, by HTTP status, for errors that
# carry none of their own (a domain exception names its own: `error_code`).
STATUS_CODES = {
    400: "validation_error",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
    504: "timeout",
}


def error_code(http_status: int, cause: BaseException | None = None) -> str:
    """The `code` of an error body: the cause's own (`error_code`, an attribute or a
    property of the exception: `stack_busy`, `branch_missing`, …), else the status's."""
    named = getattr(cause, "error_code", None)
    if isinstance(named, str) and named:
        return named
    return STATUS_CODES.get(http_status, "client_error" if http_status < 500 else "server_error")


def error_body(message: str, http_status: int, *, cause: BaseException | None = None, code: str = "") -> dict[str, Any]:
    """`{"error": message, "code": …}`: the API's error envelope."""
    return {"error": message, "code": code or error_code(http_status, cause)}


UNAVAILABLE = "The database cannot be written right now; nothing was changed. Try again shortly."
RETRY_AFTER = "30"


def unexpected_error(exc: Exception, path: str) -> tuple[int, dict[str, str], dict[str, str]]:
    """Status, body and headers for an error no view answered: 503 while the database
    cannot be used (a client or a webhook sender should retry), 500 otherwise. The
    exception is logged, never shown: its text may quote anything."""
    if isinstance(exc, DatabaseError):
        log.error("database error answering %s: %s", path, exc)
        return 503, error_body(UNAVAILABLE, 503), {"Retry-After": RETRY_AFTER}
    log.error("unexpected error answering %s", path, exc_info=exc)
    return 500, error_body("Internal server error: the server's log has the details", 500), {}


class ApiErrorsMiddleware:
    """An exception that escapes a view under /api/ (a plain view such as a webhook, or
    one DRF's handler passed on) is answered in the API's JSON envelope, not HTML; and
    every JSON error body under /api/ carries a `code`, whoever built it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/") and response.status_code >= 400:
            with_code(response)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None  # pages: Django's handler500 renders the styled error page
        if isinstance(exc, SuspiciousOperation):
            return None  # a body too large, say: Django's handler400 answers (dockhand.views)
        code, body, headers = unexpected_error(exc, request.path)
        return JsonResponse(body, status=code, headers=headers)


def with_code(response: HttpResponse) -> None:
    """Add the status's `code` to a JSON error body that names none (a view's own
    `{"error": …}`); the views that know better set it themselves."""
    if getattr(response, "streaming", False) or not response.get("Content-Type", "").startswith("application/json"):
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        return
    if isinstance(body, dict) and "error" in body and "code" not in body:
        body["code"] = error_code(response.status_code)
        response.content = json.dumps(body).encode()
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every DRF error as `{"error": "<message>"}`, with `fields` for validation errors;
    an unexpected one as a JSON 500 (503 while the database cannot be used)."""
    if isinstance(exc, Busy):
        return Response({"success": False, **error_body(str(exc), 409, cause=exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, Forbidden):
        return Response(error_body(str(exc), 403, cause=exc), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, (Conflict, InUse)):
        return Response(error_body(str(exc), 409, cause=exc), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, SuspiciousOperation):
        return None  # raised on to Django's handler400 (a body too large: 413)
    response = drf_exception_handler(exc, context)
    if response is None:
        request = context.get("request")
        code, answer, headers = unexpected_error(exc, request.path if request is not None else "?")
        return Response(answer, status=code, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        fields = _field_errors(exc.detail)
        message = _first_message(exc.detail)
        if fields:
            name = next(iter(fields))
            message = f"{name}: {message}"
        body: dict[str, Any] = error_body(message, response.status_code, cause=exc)
        if fields:
            body["fields"] = fields
        response.data = body
    elif isinstance(exc, exceptions.NotAuthenticated):
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response.data = error_body("Authentication required", 401)
    else:
        message = _first_message(getattr(exc, "detail", str(exc)))
        response.data = error_body(message, response.status_code, code=_drf_code(exc, response.status_code))
    return response


def _drf_code(exc: Exception, http_status: int) -> str:
    # DRF's own 403 for a session without CSRF, 405, 415, throttling: by status, except
    # a failed login of a token (DRF answers it 401 or 403).
    if isinstance(exc, exceptions.AuthenticationFailed):
        return "unauthenticated"
    return error_code(http_status, exc)


def error(message: str, code: int, *, cause: BaseException | None = None, kind: str = "", **extra: Any) -> Response:
    """A JSON error response in the API's envelope: HTTP status `code`, and the body's
    `code` from `kind`, else from the `cause` (its `error_code`), else from the status."""
    return Response({**error_body(message, code, cause=cause, code=kind), **extra}, status=code)


def query_bool(request: Request, name: str, default: bool) -> bool:
    """A strict true/false query parameter; anything else is a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = raw.lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise exceptions.ValidationError({name: [f"must be true or false, not {raw!r}"]})


# The largest database id (a 64-bit column): a larger number names nothing, and a list
# of ids kept in a JSON column could neither be stored faithfully nor answered.
MAX_ID = 2**63 - 1


def query_int(request: Request, name: str, default: int, *, minimum: int = 0, maximum: int = 10_000) -> int:
    """A bounded whole-number query parameter; anything else is a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise exceptions.ValidationError({name: [f"must be a whole number, not {raw!r}"]}) from exc
    if not minimum <= value <= maximum:
        raise exceptions.ValidationError({name: [f"must be between {minimum} and {maximum}"]})
    return value


def paged(
    request: Request, queryset: Any, serializer: type[serializers.BaseSerializer[Any]], *, most: int = 200
) -> Response:
    """`{"data": [...], "meta": {"total", "limit", "offset"}}` from ?limit=&offset=
    (at most `most` a page)."""
    limit = query_int(request, "limit", 20, minimum=1, maximum=most)
    offset = query_int(request, "offset", 0, maximum=10**9)
    data = serializer(queryset[offset : offset + limit], many=True).data
    return Response({"data": data, "meta": {"total": queryset.count(), "limit": limit, "offset": offset}})


class LoginSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class LoginView(APIView):
    """POST /api/auth/login: start a cookie session."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        # No session exists yet, so there is nothing for CSRF to protect here.
        return csrf_exempt(super().as_view(**initkwargs))

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: detail("LoginAnswer", username=serializers.CharField(), csrfToken=serializers.CharField()),
            401: ErrorSerializer,
            429: ErrorSerializer,
        },
        tags=["auth"],
        summary="Log in (a cookie session)",
    )
    def post(self, request: Request) -> Response:
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        form = LoginForm(request._request, data=data.validated_data)
        if form.is_valid():
            user = form.get_user()
            login(request._request, user)
            with audit.acting_as(f"user:{user.get_username()}", user=user):
                audit.record("auth.login", user)
            return Response({"username": user.get_username(), "csrfToken": get_token(request._request)})
        if form.lockout is not None:
            return Response(
                {"error": form.non_field_errors()[0]},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(form.lockout.retry_after), **form.lockout.headers()},
            )
        # One message for both halves: do not tell which one was wrong.
        headers = form.failure.headers() if form.failure else {}
        return Response({"error": "Invalid username or password"}, status=status.HTTP_401_UNAUTHORIZED, headers=headers)


class LogoutView(APIView):
    """POST /api/auth/logout: end the cookie session."""

    @extend_schema(request=None, responses={200: SUCCESS}, tags=["auth"], summary="Log out")
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response({"success": True})


class CollectionView(APIView):
    """GET list / POST create for one model, saved through its service."""

    serializer: type[ModelSerializer[Any]]
    model: type[Model]
    lists = True  # GET answers an array of `serializer` (dockhand.openapi reads this)

    def save(self, instance: Any, fields: dict[str, Any]) -> Any:
        raise NotImplementedError

    def visible(self, request: Request) -> QuerySet[Any]:
        """What this caller may read (every row unless a view narrows it)."""
        return self.model._default_manager.all()

    def context(self, request: Request) -> dict[str, Any]:
        """Serializer context for what is shown back (a view may add who is asking)."""
        return {}

    def get(self, request: Request) -> Response:
        return Response(self.serializer(self.visible(request), many=True, context=self.context(request)).data)

    def post(self, request: Request) -> Response:
        require_superuser(request.user)
        data = self.serializer(data=request.data)
        data.is_valid(raise_exception=True)
        saved = self.save(None, data.validated_data)
        return Response(self.serializer(saved, context=self.context(request)).data, status=status.HTTP_201_CREATED)


class ItemView(APIView):
    """GET / PUT (partial) / DELETE one object."""

    serializer: type[ModelSerializer[Any]]
    model: type[Model]
    not_found: str

    def save(self, instance: Any, fields: dict[str, Any]) -> Any:
        raise NotImplementedError

    def remove(self, instance: Any) -> None:
        raise NotImplementedError

    def visible(self, request: Request) -> QuerySet[Any]:
        """What this caller may read; the rest answers 404, as if it did not exist."""
        return self.model._default_manager.all()

    def context(self, request: Request) -> dict[str, Any]:
        return {}

    def _get(self, request: Request, pk: int) -> Any:
        return self.visible(request).filter(pk=pk).first()

    def get(self, request: Request, pk: int) -> Response:
        instance = self._get(request, pk)
        if instance is None:
            return error(self.not_found, status.HTTP_404_NOT_FOUND)
        return Response(self.serializer(instance, context=self.context(request)).data)

    def put(self, request: Request, pk: int) -> Response:
        require_superuser(request.user)
        instance = self._get(request, pk)
        if instance is None:
            return error(self.not_found, status.HTTP_404_NOT_FOUND)
        data = self.serializer(instance, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = self.save(instance, data.validated_data)
        return Response(self.serializer(saved, context=self.context(request)).data)

    def delete(self, request: Request, pk: int) -> Response:
        require_superuser(request.user)
        instance = self._get(request, pk)
        if instance is None:
            return error(self.not_found, status.HTTP_404_NOT_FOUND)
        try:
            self.remove(instance)
        except InUse as exc:
            return error(str(exc), status.HTTP_409_CONFLICT, cause=exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionView(APIView):
    """GET /api/auth/session (Dockhand's): who is signed in, if anyone. Always 200: a
    client asks it to learn whether to show its login form."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses=detail(
            "Session",
            authenticated=serializers.BooleanField(),
            authEnabled=serializers.BooleanField(),
            user=inline_serializer(
                "SessionUser",
                fields={
                    "id": serializers.IntegerField(),
                    "username": serializers.CharField(),
                    "email": serializers.CharField(allow_null=True),
                    "isAdmin": serializers.BooleanField(),
                },
                required=False,
                help_text="Who is signed in (only when authenticated)",
            ),
            via=serializers.ChoiceField(
                choices=["session", "token"], required=False, help_text="How (only when authenticated)"
            ),
        ),
        tags=["auth"],
        summary="Who is signed in",
    )
    def get(self, request: Request) -> Response:
        user = request.user
        if not user.is_authenticated:
            return Response({"authenticated": False, "authEnabled": True})
        return Response(
            {
                "authenticated": True,
                "authEnabled": True,
                "user": {
                    "id": user.pk,
                    "username": user.get_username(),
                    "email": getattr(user, "email", "") or None,
                    "isAdmin": bool(user.is_superuser),
                },
                "via": "token" if request.auth is not None else "session",
            }
        )
