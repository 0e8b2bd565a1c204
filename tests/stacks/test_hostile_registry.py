"""An image host a repository names may be hostile: whatever it answers is a
RegistryError naming it (never an exception that stops the clock's tick), and what
dockhand asks of it stays bounded (no redirects elsewhere, no realm anywhere, no body
read without end)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from stacks import registry
from stacks.models import GitStack
from stacks.services import images, schedules
from stacks.services.revision import stack_config
from tests.support.hostile_registry import Answer, HostileRegistry, hostile_registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with hostile_registry() as server:
        yield server


def _bearer(server: HostileRegistry, realm: str = "") -> None:
    realm = realm or f"http://{server.host}/token"
    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'}
    server.routes["/v2/team/app/manifests/1"] = Answer(401, challenge)
    server.routes["/v2/"] = Answer(401, challenge)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"a string"', b"42", b'{"token": ["x"]}', b'{"token": "a\\nb"}'])
def test_a_token_service_that_answers_no_object_is_a_registry_error(hostile: HostileRegistry, body: bytes) -> None:
    _bearer(hostile)
    hostile.routes["/token"] = Answer(200, {"Content-Type": "application/json"}, body)
    with pytest.raises(registry.RegistryError, match=f"Registry {hostile.host}: authentication failed"):
        registry.remote_digest(f"{hostile.host}/team/app:1")


def test_the_images_refresh_collects_any_failure_as_a_problem(
    app_repo: Any, make_stack: Any, hostile: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bearer(hostile)
    hostile.routes["/token"] = Answer(200, {"Content-Type": "application/json"}, b"[]")
    stack = GitStack.objects.get(pk=make_stack(app_repo)["id"])
    ran = [
        {
            "service": "app",
            "image": f"{hostile.host}/team/app:1",
            "digest": f"{hostile.host}/team/app@sha256:" + "a" * 64,
        },
        {"service": "web", "image": "odd.example/team/web:1", "digest": "odd.example/team/web@sha256:" + "b" * 64},
    ]
    monkeypatch.setattr(images, "last_ran", lambda stack: ran)
    real = registry.remote_digest

    def remote_digest(reference: str, logins: Any = ()) -> str:
        if reference.startswith("odd.example"):
            raise AttributeError("'list' object has no attribute 'get'")  # any bug of any answer
        return real(reference, logins)

    monkeypatch.setattr(registry, "remote_digest", remote_digest)
    problems = images.stack_images_refresh(stack=stack)
    assert len(problems) == 2, problems
    assert "authentication failed" in problems[0] and "odd.example/team/web:1" in problems[1]


def test_a_failing_refresh_leaves_its_stack_to_the_one_by_one_path_and_the_tick_goes_on(
    app_repo: Any, make_stack: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [make_stack(app_repo, autoUpdate=True, autoUpdateCron="* * * * *")["id"] for _ in range(3)]
    for stack in GitStack.objects.filter(pk__in=ids).select_related("environment"):
        stack.record(last_commit=app_repo.head(), applied_config=stack_config(stack))
    hostile_id = ids[0]

    def refresh(*, stack: GitStack, ran: Any = None) -> list[str]:
        if stack.pk == hostile_id:
            raise AttributeError("'list' object has no attribute 'get'")
        return []

    monkeypatch.setattr(schedules, "stack_images_refresh", refresh)
    with caplog.at_level(logging.ERROR):
        done = schedules.auto_sync_tick(timezone.now() + timedelta(minutes=1))
    assert set(done) == set(ids), done
    assert all(done[pk].startswith("deployment ") for pk in ids[1:]), done
    assert done[hostile_id].startswith("failed"), done  # its own check says why, alone
    assert f"checking stack {hostile_id} for changes failed" in caplog.text


def test_a_realm_that_is_no_url_is_a_registry_error(hostile: HostileRegistry) -> None:
    _bearer(hostile)
    hostile.routes["/token"] = Answer(200, {"Content-Type": "application/json"}, json.dumps({"token": "t"}).encode())
    hostile.routes["/v2/team/app/manifests/1"] = Answer(401, {"WWW-Authenticate": 'Bearer realm="http://[::1"'})
    with pytest.raises(registry.RegistryError):
        registry.remote_digest(f"{hostile.host}/team/app:1")


@pytest.fixture
def elsewhere() -> Iterator[HostileRegistry]:
    with hostile_registry() as server:
        yield server


def test_a_redirect_is_followed_only_on_the_same_host(hostile: HostileRegistry, elsewhere: HostileRegistry) -> None:
    digest = "sha256:" + "c" * 64
    elsewhere.routes["/v2/team/app/manifests/1"] = Answer(200, {"Docker-Content-Digest": digest})
    hostile.routes["/v2/team/app/manifests/1"] = Answer(
        302, {"Location": f"http://{elsewhere.host}/v2/team/app/manifests/1"}
    )
    with pytest.raises(registry.RegistryError, match="redirected elsewhere"):
        registry.remote_digest(f"{hostile.host}/team/app:1")
    assert elsewhere.seen == []
    hostile.routes["/v2/team/app/manifests/1"] = Answer(307, {"Location": "/v2/team/app/manifests/moved"})
    hostile.routes["/v2/team/app/manifests/moved"] = Answer(200, {"Docker-Content-Digest": digest})
    assert registry.remote_digest(f"{hostile.host}/team/app:1") == digest


def test_a_token_service_that_answers_without_end_is_refused(hostile: HostileRegistry) -> None:
    _bearer(hostile)
    hostile.routes["/token"] = Answer(200, {"Content-Type": "application/json"}, endless=True)
    with pytest.raises(registry.RegistryError, match="answered too much"):
        registry.remote_digest(f"{hostile.host}/team/app:1")


def test_a_realm_must_be_https_and_not_internal_for_a_public_registry(
    hostile: HostileRegistry, elsewhere: HostileRegistry
) -> None:
    _bearer(hostile, realm="http://example.com/token")
    with pytest.raises(registry.RegistryError, match="not https"):
        registry.remote_digest(f"{hostile.host}/team/app:1")
    public = registry._Session("1.1.1.1:5000", None)
    for realm in (
        "https://169.254.169.254/latest",
        "https://10.1.2.3/token",
        "https://[fe80::1]/t",
        "https://127.0.0.1/t",
    ):
        with pytest.raises(registry.RegistryError, match="private address"):
            public._realm(realm)
    assert public._realm("https://9.9.9.9/token") == "https://9.9.9.9/token"
    # A registry on an internal address may have its token service on one.
    assert registry._Session("10.0.0.5:5000", None)._realm("https://10.0.0.6/t") == "https://10.0.0.6/t"
    _bearer(hostile, realm=f"http://{elsewhere.host}/token")  # loopback: plain http is allowed
    elsewhere.routes["/token"] = Answer(200, {"Content-Type": "application/json"}, b'{"token": "t"}')
    with pytest.raises(registry.RegistryError, match="authentication failed: it needs a login"):
        registry.remote_digest(f"{hostile.host}/team/app:1")
    assert elsewhere.seen and elsewhere.seen[0].startswith("GET /token?")


def test_a_token_service_that_trickles_is_cut_off_in_time(
    hostile: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "TIMEOUT", 1)
    _bearer(hostile)
    hostile.routes["/token"] = Answer(200, {"Content-Type": "application/json"}, endless=True, trickle=True)
    with pytest.raises(registry.RegistryError, match="its token service: no answer within 1 s"):
        registry.remote_digest(f"{hostile.host}/team/app:1")
