"""Hardening inside the app: the Content-Security-Policy and templates it can hold to,
host names, URLs shown from DOCKHAND_PUBLIC_URL, TLS as a trusted proxy reports it, and
oversized bodies. (The same against the real server: tests/e2e/test_hardening.py.)"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from dockhand.envconf import default_allowed_hosts
from tests.conftest import session_headers

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _policy(response: Any) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api/git/stacks", "/nowhere/", "/stacks/"])
def test_every_answer_carries_the_policy(path: str) -> None:
    policy = _policy(Client().get(path))
    assert policy["default-src"] == "default-src 'self'"
    assert "unsafe-inline" not in str(policy) and "unsafe-eval" not in str(policy)
    assert policy["frame-ancestors"] == "frame-ancestors 'none'" and policy["object-src"] == "object-src 'none'"


def test_no_template_holds_inline_script_handlers_or_styles() -> None:
    """What the policy would refuse to run: the pages' behaviour lives in static/js."""
    found = []
    templates = list(TEMPLATES.rglob("*.html"))
    assert len(templates) > 20  # the scan reads the real templates
    for template in templates:
        text = template.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=", r"\bstyle\s*=", r"javascript:", r"<style"):
            found += [f"{template.relative_to(TEMPLATES)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert found == []


def test_the_default_hosts_follow_the_bind_address() -> None:
    assert default_allowed_hosts("127.0.0.1", "") == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("10.0.0.5", "https://dockhand.example:8443/base") == [
        "localhost",
        "127.0.0.1",
        "[::1]",
        "10.0.0.5",
        "dockhand.example",
    ]
    assert default_allowed_hosts("::1", "") == ["localhost", "127.0.0.1", "[::1]"]
    # Bound to every address, it is reached under names it cannot know.
    assert default_allowed_hosts("0.0.0.0", "") == ["*"]


def test_a_malformed_public_url_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from dockhand.envconf import env_public_url

    monkeypatch.setenv("DOCKHAND_PUBLIC_URL", "dockhand.example")
    with pytest.raises(ImproperlyConfigured, match="must look like https://"):
        env_public_url("DOCKHAND_PUBLIC_URL")
    monkeypatch.setenv("DOCKHAND_PUBLIC_URL", "https://dockhand.example/")
    assert env_public_url("DOCKHAND_PUBLIC_URL") == "https://dockhand.example"


def test_a_foreign_host_is_answered_400(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["dockhand.example"]
    api = Client(HTTP_HOST="evil.example").get("/api/health")
    assert api.status_code == 400 and api.json() == {
        "error": "This server does not answer to that host name.",
        "code": "validation_error",
    }
    page = Client(HTTP_HOST="evil.example").get("/login/")
    assert page.status_code == 400 and "Unknown host" in page.content.decode()
    assert Client(HTTP_HOST="dockhand.example").get("/login/").status_code == 200


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_socket_under_a_foreign_host_is_refused(deployment: Any, admin: Any, settings: Any) -> None:
    """A DNS-rebound page is same-origin with itself: the host name must be ours too."""
    settings.ALLOWED_HOSTS = ["dockhand.example"]
    headers = [h for h in await sync_to_async(session_headers)(admin) if h[0] not in (b"origin", b"host")]
    from dockhand.asgi import application

    rebound = WebsocketCommunicator(
        application,
        f"/ws/deployments/{deployment.pk}/",
        headers=[*headers, (b"origin", b"http://evil.example:8000"), (b"host", b"evil.example:8000")],
    )
    assert (await rebound.connect())[0] is False
    ours = WebsocketCommunicator(
        application,
        f"/ws/deployments/{deployment.pk}/",
        headers=[*headers, (b"origin", b"http://dockhand.example"), (b"host", b"dockhand.example")],
    )
    assert (await ours.connect())[0] is True
    await ours.disconnect()


def test_webhook_urls_come_from_the_public_url_not_the_host_header(api: APIClient, admin: Any, settings: Any) -> None:
    settings.PUBLIC_URL = "https://dockhand.example"
    settings.ALLOWED_HOSTS = ["*"]
    stack = api.post(
        "/api/git/stacks?check=false",
        {"stackName": "hooked", "url": "https://e.test/a.git", "webhookEnabled": True},
        format="json",
    ).json()
    expected = f"https://dockhand.example/api/git/stacks/{stack['id']}/webhook"
    visitor = APIClient(HTTP_HOST="evil.example")
    visitor.force_authenticate(admin)
    assert visitor.get(f"/api/git/stacks/{stack['id']}").json()["webhookUrl"] == expected
    page = Client(HTTP_HOST="evil.example")
    page.force_login(admin)
    shown = page.get(f"/stacks/{stack['id']}/").content.decode()
    assert f'value="{expected}" id="webhook-url"' in shown and "evil.example" not in shown


def _proxied(settings: Any) -> None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.9.0.2/32")]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def test_tls_reported_by_a_trusted_proxy_brings_hsts_and_secure_cookies(admin: Any, settings: Any) -> None:
    _proxied(settings)
    client = Client(REMOTE_ADDR="10.9.0.2", HTTP_X_FORWARDED_PROTO="https")
    response = client.post("/login/", {"username": "admin", "password": "admin-pass-123"})
    assert response.status_code == 302
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.cookies["sessionid"]["secure"] is True and response.cookies["csrftoken"]["secure"] is True


def test_anyone_else_saying_tls_is_not_believed(admin: Any, settings: Any) -> None:
    _proxied(settings)
    client = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_PROTO="https")
    response = client.post("/login/", {"username": "admin", "password": "admin-pass-123"})
    assert response.status_code == 302 and "Strict-Transport-Security" not in response
    assert not response.cookies["sessionid"]["secure"]


def test_an_oversized_body_is_413_in_the_app_too(settings: Any) -> None:
    """Django reads no more than the server would accept (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = Client().post("/api/auth/login", "x" * 2000, content_type="application/json")
    assert response.status_code == 413 and "request body is over" in response.json()["error"]


def test_a_data_dir_an_older_version_left_readable_is_made_private(tmp_path: Path) -> None:
    from dockhand.datadir import make_private

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    for name in ("dockhand.sqlite3", "dockhand.sqlite3-wal", "secret_key"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    make_private(data)
    assert data.stat().st_mode & 0o777 == 0o700
    assert {(path.name, path.stat().st_mode & 0o777) for path in data.iterdir()} == {
        ("dockhand.sqlite3", 0o600),
        ("dockhand.sqlite3-wal", 0o600),
        ("secret_key", 0o600),
    }
