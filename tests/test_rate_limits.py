"""Rate limits: 429 with Retry-After and X-RateLimit-* headers once a window is used up."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limits(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pinned 30 s into a window: a real window boundary mid-test would reset counters.
    from dockhand import ratelimit

    now = (int(time.time()) // 3600 + 1) * 3600 + 30.0
    monkeypatch.setattr(ratelimit, "_clock", lambda: now)
    settings.RATE_LIMITS = {
        "login_failures": (3, 300),
        "bad_tokens": (3, 300),
        "webhook_failures": (3, 300),
        "token_calls": (5, 60),
    }


def _limited(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) > 0
    assert response["X-RateLimit-Limit"] == "3" and response["X-RateLimit-Remaining"] == "0"


def test_failed_api_logins_are_limited_per_address(admin: Any) -> None:
    client = APIClient()
    for left in ("2", "1", "0"):
        failed = client.post("/api/auth/login", {"username": "admin", "password": "wrong"}, format="json")
        assert failed.status_code == 401 and failed["X-RateLimit-Remaining"] == left
    # Even the right password waits now: guessing is what the limit stops.
    _limited(client.post("/api/auth/login", {"username": "admin", "password": "admin-pass-123"}, format="json"))
    # Another address may still try another account (the account is locked too:
    # tests/test_login_limits.py).
    other = APIClient(REMOTE_ADDR="10.1.1.1")
    assert other.post("/api/auth/login", {"username": "ops", "password": "x"}, format="json").status_code == 401


def test_failed_page_logins_are_limited_too(admin: Any) -> None:
    client = Client()
    for _ in range(3):
        assert client.post("/login/", {"username": "admin", "password": "wrong"}).status_code == 200
    response = client.post("/login/", {"username": "admin", "password": "admin-pass-123"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_bad_bearer_tokens_are_limited_per_address() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer dh_guess")
    for _ in range(3):
        assert client.get("/api/git/stacks").status_code == 401
    response = client.get("/api/git/stacks")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_api_calls_per_token_carry_headers_and_are_limited(api: Any) -> None:
    raw = api.post("/api/tokens", {"name": "ci", "scopes": ["deploy:read"]}, format="json").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for left in range(4, -1, -1):
        response = client.get("/api/git/stacks")
        assert response.status_code == 200
        assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("5", str(left))
    limited = client.get("/api/git/stacks")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited.json()["error"].startswith("Too many requests with this API token")


def test_failed_webhooks_are_limited_per_stack_and_sender(api: Any) -> None:
    stack = api.post(
        "/api/git/stacks?check=false",
        {"stackName": "w", "url": "https://e.test/a.git", "webhookEnabled": True},
        format="json",
    ).json()
    sender = APIClient(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        assert (
            sender.post(
                f"/api/git/stacks/{stack['id']}/webhook",
                data=b"{}",
                content_type="application/json",
                HTTP_X_WEBHOOK_SECRET="x",
            ).status_code
            == 401
        )
    _limited(
        sender.post(
            f"/api/git/stacks/{stack['id']}/webhook",
            data=b"{}",
            content_type="application/json",
            HTTP_X_WEBHOOK_SECRET="x",
        )
    )
    # The real provider, from its own address, is not locked out by that stranger.
    provider = APIClient(REMOTE_ADDR="192.0.2.10")
    ok = provider.post(
        f"/api/git/stacks/{stack['id']}/webhook",
        data=b'{"ref": "refs/heads/other"}',
        content_type="application/json",
        HTTP_X_WEBHOOK_SECRET=stack["webhookSecret"],
    )
    assert ok.status_code == 200 and ok.json()["ignored"] is True


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(settings: Any, admin: Any) -> None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.9.0.0/24")]
    wrong = {"username": "admin", "password": "wrong"}
    # The proxy appends the peer it saw; whatever the client sent before that is not believed.
    first = APIClient(REMOTE_ADDR="10.9.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    for _ in range(3):
        assert first.post("/api/auth/login", wrong, format="json").status_code == 401
    _limited(first.post("/api/auth/login", wrong, format="json"))
    rotating = APIClient(REMOTE_ADDR="10.9.0.2", HTTP_X_FORWARDED_FOR="7.7.7.7, 203.0.113.7")
    _limited(rotating.post("/api/auth/login", wrong, format="json"))
    second = APIClient(REMOTE_ADDR="10.9.0.2", HTTP_X_FORWARDED_FOR="203.0.113.8, 10.9.0.3")
    other_account = {"username": "ops", "password": "wrong"}
    assert second.post("/api/auth/login", other_account, format="json").status_code == 401


def test_an_untrusted_peer_cannot_spoof_its_address(settings: Any, admin: Any) -> None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.9.0.0/24")]
    # A new account each time: only the address can lock these out.
    for n in range(3):
        spoofing = APIClient(REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        guess = {"username": f"user{n}", "password": "wrong"}
        assert spoofing.post("/api/auth/login", guess, format="json").status_code == 401
    _limited(
        APIClient(REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="192.0.2.99").post(
            "/api/auth/login", {"username": "user99", "password": "wrong"}, format="json"
        )
    )


def test_a_malformed_trusted_proxies_setting_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from dockhand.envconf import env_networks

    monkeypatch.setenv("DOCKHAND_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local")
    with pytest.raises(ImproperlyConfigured, match=r"'proxy\.local' is not an address or network"):
        env_networks("DOCKHAND_TRUSTED_PROXIES")
