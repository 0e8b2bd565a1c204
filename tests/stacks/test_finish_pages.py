"""The finishing touches of the pages, as the server renders them: the stack page's
status block (polled), the list's search and its actions, "saved" messages, the
credential form by type, times that say "just now" with the full time on hover."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dockhand.templatetags.dockhand import relative_text as words
from gitsync.models import Repository
from stacks.models import Deployment, GitStack
from stacks.services.stacks import local_environment
from tests.conftest import GIT_TOKEN

pytestmark = pytest.mark.django_db


def _stack(name: str, url: str = "", branch: str = "main") -> GitStack:
    repo = Repository.objects.create(name=f"repo-{name}", url=url or f"https://git.example.test/{name}.git")
    return GitStack.objects.create(
        name=name, environment=local_environment(), repository=repo, branch=branch, project_name=name
    )


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _listed(html: str) -> list[str]:
    return re.findall(r'<tr data-stack="([^"]+)"', html)


def test_the_list_searches_name_repository_and_branch(admin: Any) -> None:
    _stack("shop-web")
    _stack("billing", url="https://git.example.test/acme/payments.git")
    _stack("cart", branch="release/shop")
    _stack("blog")
    client = _client(admin)
    assert sorted(_listed(client.get("/stacks/?q=shop").content.decode())) == ["cart", "shop-web"]
    assert _listed(client.get("/stacks/rows/?q=PAYMENTS").content.decode()) == ["billing"]
    none = client.get("/stacks/?q=nothing-like-it").content.decode()
    assert _listed(none) == [] and "No stack matches this search." in none
    # The search box keeps what was searched; the poll asks with it.
    page = client.get("/stacks/?q=blog").content.decode()
    assert 'value="blog"' in page and 'hx-get="/stacks/rows/?q=blog"' in page


def test_the_list_offers_sync_to_those_who_may_and_follow_while_one_runs(admin: Any, viewer: Any) -> None:
    idle, busy = _stack("idle"), _stack("busy")
    running = Deployment.objects.create(stack=busy, trigger="api")
    running.start()
    html = _client(admin).get("/stacks/").content.decode()
    assert 'data-sync="idle"' in html and 'data-sync="busy"' not in html
    assert f'href="/deployments/{running.pk}/" data-follow="busy"' in html
    assert 'hx-trigger="every 1s"' in html  # something runs: polled often
    assert "data-sync=" not in _client(viewer).get("/stacks/").content.decode()
    assert idle.pk


def test_the_stack_status_block_polls_and_shows_the_run_in_progress(admin: Any) -> None:
    stack = _stack("polled")
    client = _client(admin)
    page = client.get(f"/stacks/{stack.pk}/").content.decode()
    assert f'hx-get="/stacks/{stack.pk}/status/"' in page and 'hx-trigger="every 5s"' in page
    assert "current-deployment" not in page and 'id="last-sync">never' in page

    running = Deployment.objects.create(stack=stack, trigger="webhook")
    running.start()
    GitStack.objects.filter(pk=stack.pk).update(sync_status=GitStack.SyncStatus.SYNCING)
    polled = client.get(f"/stacks/{stack.pk}/status/").content.decode()
    assert polled.startswith('<div id="stack-status"') or '<div id="stack-status"' in polled
    assert f'href="/deployments/{running.pk}/"' in polled and "Deployment #1: follow it live" in polled
    assert 'hx-trigger="every 1s"' in polled
    # The header's badges come along, swapped out of band.
    assert re.search(r'<span id="stack-badges"[^>]*hx-swap-oob="true"', polled)
    assert 'data-status="syncing"' in polled

    running.finish(Deployment.Status.FAILED, error="compose said no")
    GitStack.objects.filter(pk=stack.pk).update(
        sync_status=GitStack.SyncStatus.FAILED, sync_error="compose said no", last_sync=timezone.now()
    )
    polled = client.get(f"/stacks/{stack.pk}/status/").content.decode()
    assert "current-deployment" not in polled and "compose said no" in polled
    assert f'href="/deployments/{running.pk}/">See deployment #1' in polled
    assert re.search(
        r'id="last-sync"><time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+">just now', polled
    )


def test_the_status_block_is_the_stacks_viewers_only(admin: Any, outsider: Any) -> None:
    stack = _stack("private")
    assert _client(outsider).get(f"/stacks/{stack.pk}/status/").status_code == 404


def test_times_read_just_now_then_the_nearest_unit() -> None:
    now = timezone.now()

    def relative_text(moment: Any, now: Any) -> str:  # Django keeps "3" and "minutes" on one line
        return words(moment, now).replace("\xa0", " ")

    assert relative_text(now - timedelta(seconds=20), now) == "just now"
    assert relative_text(now - timedelta(minutes=3, seconds=10), now) == "3 minutes ago"
    assert relative_text(now - timedelta(hours=5, minutes=2), now) == "5 hours ago"
    assert relative_text(now + timedelta(hours=2, minutes=1), now) == "in 2 hours"


def test_saving_says_so(admin: Any, git_server: Any) -> None:
    client = _client(admin)
    created = client.post(
        "/credentials/new/",
        {"name": "forge", "authType": "token", "token": GIT_TOKEN, "urlPrefixes": git_server.prefix},
        follow=True,
    )
    assert "Credential forge created." in created.content.decode()
    environment = local_environment()
    edited = client.post(
        f"/environments/{environment.pk}/edit/", {"name": "local", "policy": "privileged"}, follow=True
    )
    assert "Environment local saved." in edited.content.decode()
    stack = _stack("saved")
    overrides = client.post(
        f"/stacks/{stack.pk}/env/", {"row": ["0"], "key": ["A"], "value": ["1"]}, follow=True
    ).content.decode()
    assert "Overrides saved." in overrides


def test_the_credential_form_marks_each_field_with_its_types(admin: Any) -> None:
    html = _client(admin).get("/credentials/new/").content.decode()
    found = re.findall(r'data-auth="([a-z ]+)"><label class="form-label" for="(\w+)"', html)
    by_field = {field: kinds for kinds, field in found}
    assert by_field == {
        "username": "password token",
        "token": "token",
        "password": "password",
        "sshPrivateKey": "ssh",
        "sshPassphrase": "ssh",
        "sshKnownHosts": "ssh",
        "ageKey": "age",
        # An age key decrypts files: it is no login to a URL.
        "urlPrefixes": "none password token ssh",
    }
    assert 'name="urlPrefixes"' in html and 'name="environmentIds"' in html and 'name="allowPlainHttp"' in html
    assert "js/credential-form.js" in html
