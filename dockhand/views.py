"""Session pages: login (with the first-start hint of spec §2), password change, the
audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

from dockhand import ratelimit
from dockhand.models import AuditEvent


class LoginView(auth_views.LoginView):
    """Django's login: `next` honoured; one message whichever half was wrong."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        state = ratelimit.peek("login_failures", ratelimit.client_ip(request))
        if state.exhausted:
            response = render(
                request,
                "message.html",
                {
                    "title": "Too many failed logins",
                    "message": "Too many failed logins from this address; try again later.",
                },
                status=429,
            )
            response["Retry-After"] = str(state.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        ratelimit.hit("login_failures", ratelimit.client_ip(self.request))
        return super().form_invalid(form)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        users = get_user_model().objects
        # Nobody has signed in yet: point to where the first admin's password is.
        context["first_start"] = users.count() == 1 and not users.filter(last_login__isnull=False).exists()
        context["admin_username"] = settings.ADMIN_USERNAME
        return context


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    success_url = "/password/done/"


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit trail, newest first, 50 to a page."""
    page = Paginator(AuditEvent.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "audit.html", {"page": page})


# Error pages. Under /api/ the answer is the API's JSON envelope; a page gets a styled
# page. The 500 page is rendered without the request: whatever failed (the database,
# say) must not be needed again to say so.


def _error(request: HttpRequest, code: int, title: str, message: str, *, with_request: bool = True) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message}, status=code)
    context = {"title": title, "message": message, "code": code}
    html = loader.get_template("error.html").render(context, request if with_request else None)
    return HttpResponse(html, status=code)


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
