"""One login limiter for the API, the /login/ page and the admin's /admin/login/: failed
logins count per client address and per account, and a lockout (429, Retry-After) says
how long it lasts and refuses even the right password."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "admin-pass-123"
PROXY = "10.9.0.2"


@pytest.fixture(autouse=True)
def _small_limits(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pinned 30 s into a window: a real window boundary mid-test would reset counters.
    from dockhand import ratelimit

    now = (int(time.time()) // 3600 + 1) * 3600 + 30.0
    monkeypatch.setattr(ratelimit, "_clock", lambda: now)
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_failures": (3, 300)}
    # Client addresses come from X-Forwarded-For appended by this proxy.
    settings.TRUSTED_PROXIES = [ipaddress.ip_network(f"{PROXY}/32")]


def _from(address: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)


def api_login(client: Client, username: str, password: str) -> Any:
    return client.post("/api/auth/login", {"username": username, "password": password}, content_type="application/json")


def page_login(client: Client, username: str, password: str) -> Any:
    return client.post("/login/", {"username": username, "password": password})


def admin_login(client: Client, username: str, password: str) -> Any:
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


LOGINS = [api_login, page_login, admin_login]
Login = Callable[[Client, str, str], Any]


def _refused(response: Any) -> int:
    """A failed (not locked-out) attempt: 401 from the API, the form again from a page."""
    assert response.status_code in (200, 401), response.content
    return int(response.status_code)


def _locked(response: Any) -> str:
    """A lockout: 429, Retry-After, and the time left in words; the text shown."""
    assert response.status_code == 429, response.content
    wait = int(response["Retry-After"])
    assert 0 < wait <= 300
    if response["Content-Type"].startswith("application/json"):
        text = str(response.json()["error"])
    else:
        text = response.content.decode()
        # A page: the form again, to try once the lockout is over.
        assert 'name="password"' in text and 'name="username"' in text
    left = re.search(r"try again in (?:(\d+) min )?(\d+) s", text)
    assert left, text
    assert int(left.group(1) or 0) * 60 + int(left.group(2)) == wait
    return text


@pytest.mark.parametrize("login", LOGINS)
def test_one_address_trying_many_accounts_is_locked_out(admin: Any, login: Login) -> None:
    for n in range(3):
        _refused(login(_from("203.0.113.5"), f"guess{n}", "wrong"))
    text = _locked(login(_from("203.0.113.5"), "admin", PASSWORD))
    assert "from this address" in text
    # Others are not: the same account from another address still logs in.
    ok = login(_from("203.0.113.6"), "admin", PASSWORD)
    assert ok.status_code in (200, 302) and ok.wsgi_request.user.is_authenticated


@pytest.mark.parametrize("login", LOGINS)
def test_many_addresses_trying_one_account_lock_it(admin: Any, login: Login) -> None:
    for n in range(3):
        _refused(login(_from(f"198.51.100.{n}"), "admin", "wrong"))
    # A fresh address, the right password (in another spelling of the name): still refused.
    text = _locked(login(_from("192.0.2.77"), "ADMIN", PASSWORD))
    assert "for this account" in text
    _locked(login(_from("192.0.2.78"), "admin", PASSWORD))
    # Another account from that address is not held back.
    assert _refused(login(_from("192.0.2.78"), "ops", "wrong"))


def test_the_three_logins_share_one_count(admin: Any) -> None:
    """Spreading guesses over the API, the page and the admin gains nothing."""
    for n, login in enumerate(LOGINS):
        _refused(login(_from(f"198.51.100.{n}"), "admin", "wrong"))
    for login in LOGINS:
        _locked(login(_from("192.0.2.9"), "admin", PASSWORD))


def test_the_api_counts_down_in_its_headers(admin: Any) -> None:
    client = _from("203.0.113.20")
    remaining = [api_login(client, "admin", "wrong")["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    assert api_login(client, "admin", PASSWORD)["X-RateLimit-Remaining"] == "0"


def test_a_signed_in_user_cannot_guess_on_the_admin_login(admin: Any, django_user_model: Any) -> None:
    """The admin's login page is open to signed-in users who are not staff: their
    guesses at another account count like anyone's."""
    django_user_model.objects.create_user(username="viewer", password="viewer-pass-123")
    client = _from("203.0.113.30")
    client.login(username="viewer", password="viewer-pass-123")
    for _ in range(3):
        _refused(admin_login(client, "admin", "wrong"))
    _locked(admin_login(client, "admin", PASSWORD))


def test_each_failure_is_audited_whatever_the_path(admin: Any) -> None:
    from dockhand.models import AuditEvent

    for n, login in enumerate(LOGINS):
        _refused(login(_from(f"198.51.100.{40 + n}"), "admin", "wrong"))
    failed = AuditEvent.objects.filter(action="auth.login_failed").values_list("object", flat=True)
    assert sorted(failed) == ["address 198.51.100.40", "address 198.51.100.41", "address 198.51.100.42"]


def _change(client: Client, old: str) -> Any:
    new = "a-new-pass-456"
    return client.post("/password/", {"old_password": old, "new_password1": new, "new_password2": new})


def test_a_stolen_session_cannot_guess_the_current_password_on_the_password_page(admin: Any) -> None:
    """Each wrong current password counts as a failed login of the account; once the
    count is used up even the right one is refused, and the password stays."""
    client = _from("203.0.113.40")
    client.force_login(admin)
    for _ in range(3):
        wrong = _change(client, "wrong")
        assert wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
    locked = _change(client, PASSWORD)
    assert locked.status_code == 429 and 0 < int(locked["Retry-After"]) <= 300
    assert re.search(
        r"Too many failed logins from this address; try again in (\d+ min )?\d+ s", locked.content.decode()
    )
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)
    # The same count as the login page's: that account's login is locked too.
    _locked(page_login(_from("192.0.2.90"), "admin", PASSWORD))


def test_the_right_current_password_changes_it_while_the_count_allows(admin: Any) -> None:
    client = _from("203.0.113.41")
    client.force_login(admin)
    _change(client, "wrong")
    assert _change(client, PASSWORD).status_code == 302
    admin.refresh_from_db()
    assert admin.check_password("a-new-pass-456")
