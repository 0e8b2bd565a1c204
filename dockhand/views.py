"""Session pages: login (with the first-start hint of spec §2), password change, errors."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

from dockhand.api import error_body
from dockhand.logins import LoginForm, PasswordChangeForm


class LoginView(auth_views.LoginView):
    """Django's login behind the login limiter (`dockhand.logins`): `next` honoured; one
    message whichever half was wrong; a lockout says how long it lasts."""

    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        users = get_user_model().objects
        # Nobody has signed in yet: point to where the first admin's password is.
        context["first_start"] = users.count() == 1 and not users.filter(last_login__isnull=False).exists()
        context["admin_username"] = settings.ADMIN_USERNAME
        return context


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, its current password behind the login limiter."""

    template_name = "registration/password_change.html"
    success_url = "/password/done/"
    form_class = PasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


# Error pages. Under /api/ the answer is the API's JSON envelope; a page gets a styled
# page. The 500 page is rendered without the request: whatever failed (the database,
# say) must not be needed again to say so.


def _error(request: HttpRequest, code: int, title: str, message: str, *, with_request: bool = True) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(message, code), status=code)
    # Without the request there is no user to ask the database about: the navigation
    # is drawn without the user menu, its links still lead somewhere.
    context = {"title": title, "message": message, "code": code, "plain_nav": not with_request}
    html = loader.get_template("error.html").render(context, request if with_request else None)
    return HttpResponse(html, status=code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        # Under Daphne a body this size is refused before it is read (dockhand/bodylimit.py).
        return _error(request, 413, "Too large", f"The request body is over {settings.MAX_BODY_BYTES} bytes.")
    if isinstance(exception, DisallowedHost):
        return _error(request, 400, "Unknown host", "This server does not answer to that host name.")
    return _error(request, 400, "Bad request", "The request could not be understood.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "Not found", "There is nothing at this address.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You may not see or do this."
    return _error(request, 403, "Not allowed", message)


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(
        request,
        500,
        "Something went wrong",
        "The server could not answer; its log has the details.",
        with_request=False,
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid security token (a page open across a restart or a
    log-in elsewhere): a styled page that says what to do, not Django's bare one."""
    return _error(
        request,
        403,
        "The form expired",
        "Its security check failed, most likely because the page was open for a long time or you signed in again"
        " elsewhere. Go back, reload the page and try again.",
    )
