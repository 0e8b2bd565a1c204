"""Session pages: login (with the first-start hint of spec §2), password change, the
audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

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


def home(request: HttpRequest) -> HttpResponse:
    return redirect("stack-list")


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit trail, newest first, 50 to a page."""
    page = Paginator(AuditEvent.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "audit.html", {"page": page})
