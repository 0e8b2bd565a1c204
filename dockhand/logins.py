"""One limiter for every way to check a password: the /login/ page, the admin's login
and POST /api/auth/login check it through `LoginForm`, the /password/ page (its current
password) through `PasswordChangeForm`. A stolen session must not guess there what the
login page would lock out.

Failures count per client address (one machine trying many accounts) and per account
(many machines trying one account). Either count used up locks that way out until its
window ends, the right password included: guessing is what it stops. The lockout is
answered 429 with the time left, in the body and in Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.forms import PasswordChangeForm as DjangoPasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseBase

from dockhand import audit, ratelimit

LIMIT = "login_failures"


def _keys(request: HttpRequest, username: str) -> dict[str, str]:
    """The counters a login attempt is held against, by what they say to the user."""
    keys = {"from this address": f"address:{ratelimit.client_ip(request)}"}
    if username:
        # Case-folded: "Admin" and "admin" must not be two budgets of guesses.
        keys["for this account"] = f"account:{username.casefold()}"
    return keys


def refused_attempt(request: HttpRequest, username: str) -> tuple[ratelimit.State, ValidationError] | None:
    """When a used-up counter refuses this attempt: its state and the error that says
    how long it lasts, the request marked for `answers_lockout`'s 429. Else None."""
    for what, key in _keys(request, username).items():
        state = ratelimit.peek(LIMIT, key)
        if state.exhausted:
            request.dockhand_login_lockout = state  # type: ignore[attr-defined]
            return state, ValidationError(message(what, state), code="locked_out")
    return None


def failed(request: HttpRequest, username: str) -> ratelimit.State:
    """Count a failed login against the address and the account; the tighter state."""
    states = [ratelimit.hit(LIMIT, key) for key in _keys(request, username).values()]
    audit.record("auth.login_failed", f"address {ratelimit.client_ip(request)}")
    return min(states, key=lambda state: state.remaining)


def _wait(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def message(what: str, state: ratelimit.State) -> str:
    return f"Too many failed logins {what}; try again in {_wait(state.retry_after)}"


class LoginForm(AuthenticationForm):
    """Django's login form behind the limiter. After validation, `lockout` is the
    state that refused the attempt and `failure` the counter a wrong password left."""

    lockout: ratelimit.State | None = None
    failure: ratelimit.State | None = None

    def clean(self) -> dict[str, Any]:
        request = self.request
        assert request is not None, "the limiter counts by the request's client address"
        username = str(self.cleaned_data.get("username") or "")
        refused = refused_attempt(request, username)
        if refused is not None:
            self.lockout, error = refused
            raise error
        try:
            return super().clean()
        except ValidationError:
            # A wrong password, an inactive account, a user the admin does not admit.
            if username and self.cleaned_data.get("password"):
                self.failure = failed(request, username)
            raise


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The admin's login form (staff only) behind the same limiter."""


class PasswordChangeForm(DjangoPasswordChangeForm):
    """Django's password change, its current password checked behind the login limiter:
    a wrong one counts as a failed login of this account from this address, and a
    lockout refuses even the right one."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        username = str(self.user.get_username())
        refused = refused_attempt(self.request, username)
        if refused is not None:
            raise refused[1]
        try:
            return str(super().clean_old_password())
        except ValidationError:
            failed(self.request, username)
            raise


def answers_lockout(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A page that checks a password answers a locked-out attempt 429 with Retry-After;
    the page itself (the form, saying how long the lockout lasts) is the view's."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        state = getattr(request, "dockhand_login_lockout", None)
        if isinstance(state, ratelimit.State):
            response.status_code = 429
            response["Retry-After"] = str(state.retry_after)
            for name, value in state.headers().items():
                response[name] = value
        return response

    return wrapped
