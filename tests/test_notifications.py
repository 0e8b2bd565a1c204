"""Apprise notifications to a local HTTP receiver: a successful and a failed sync are
told (to the stack's and its environment's URLs), skipped only when asked for, with no
secret in any message; a URL that fails is recorded and the deploy goes on; the
"send test" button reports what each URL did."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from dockhand.models import AuditEvent
from stacks.models import Environment, GitStack
from stacks.services.skipped import UNCHANGED_NOTE
from tests.conftest import SECRET_VALUE, compose_file
from tests.support import webhooks as hooks
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db
HOOK_TOKEN = "hook-Token-5e1f0a"  # a token in the URL, as chat services put them


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


def _sync(api: Any, stack: dict[str, Any]) -> Any:
    return api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")


def test_syncs_are_told_to_the_stack_and_environment_urls_without_secrets(
    api: Any, app_repo: Any, make_stack: Any, receiver: Receiver, docker_image: str
) -> None:
    local = api.get("/api/environments").json()[0]
    assert (
        api.put(
            f"/api/environments/{local['id']}",
            {"notifyUrls": [receiver.url("env")], "notifyEvents": ["failure"]},
            format="json",
        ).status_code
        == 200
    )
    stack = make_stack(app_repo, notifyUrls=[receiver.url(f"stack/{HOOK_TOKEN}")])
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert shown["notifyTargets"] == ["json://127.0.0.1…"] and "notifyUrls" not in shown
    assert HOOK_TOKEN not in str(shown) and HOOK_TOKEN not in str(api.get("/api/git/stacks").json())

    assert _sync(api, stack).json()["deployed"] is True
    assert _sync(api, stack).json()["message"] == UNCHANGED_NOTE  # not told: skipped is opt-in
    app_repo.commit({"compose.yaml": compose_file("2", image="dockhand-test/does-not-exist:1")}, "break it")
    assert _sync(api, stack).status_code == 500

    got = receiver.wait_for(3)
    told = [(r["path"].split("/")[1], r["body"]["title"]) for r in got]
    name = stack["stackName"]
    assert told[0] == ("stack", f"dockhand: {name} deployed")
    assert sorted(told[1:]) == [("env", f"dockhand: {name} sync failed"), ("stack", f"dockhand: {name} sync failed")]
    assert got[0]["body"]["type"] == "success" and "Commit " in got[0]["body"]["message"]
    failed = next(r["body"] for r in got if r["path"].startswith("/stack/") and r["body"]["type"] == "failure")
    assert failed["type"] == "failure" and "does-not-exist" in failed["message"]
    for message in got:
        assert SECRET_VALUE not in message["raw"] and HOOK_TOKEN not in message["raw"]

    api.put(f"/api/git/stacks/{stack['id']}", {"notifyEvents": ["skipped"]}, format="json")
    app_repo.commit({"compose.yaml": compose_file("3")}, "fix it")
    assert _sync(api, stack).json()["deployed"] is True  # success: no longer asked for
    assert _sync(api, stack).json()["message"] == UNCHANGED_NOTE
    assert [r["body"]["title"] for r in receiver.wait_for(4)][3:] == [f"dockhand: {name} already up to date"]


def test_a_failing_url_is_recorded_and_the_deploy_goes_on(
    api: Any, app_repo: Any, make_stack: Any, receiver: Receiver, docker_image: str
) -> None:
    dead = f"json://127.0.0.1:9/{HOOK_TOKEN}"  # nothing listens on port 9
    stack = make_stack(app_repo, notifyUrls=[dead, receiver.url("ok")])
    assert _sync(api, stack).json()["deployed"] is True
    assert [r["path"] for r in receiver.wait_for(1)] == ["/ok"]
    failures = list(AuditEvent.objects.filter(action="notify.failed"))
    assert len(failures) == 1 and "event=success" in failures[0].detail
    assert HOOK_TOKEN not in failures[0].detail and "json://127.0.0.1" in failures[0].detail


def test_send_test_reports_each_url(api: Any, app_repo: Any, make_stack: Any, receiver: Receiver) -> None:
    stack = make_stack(app_repo)
    none = api.post(f"/api/git/stacks/{stack['id']}/notifications/test")
    assert none.status_code == 400 and "notifyUrls" in none.json()["fields"]
    api.put(f"/api/git/stacks/{stack['id']}", {"notifyUrls": [receiver.url("t")]}, format="json")
    ok = api.post(f"/api/git/stacks/{stack['id']}/notifications/test")
    assert ok.status_code == 200 and ok.json() == {"delivered": True}
    assert receiver.wait_for(1)[0]["body"]["title"] == "dockhand: test notification"
    api.put(f"/api/git/stacks/{stack['id']}", {"notifyUrls": [f"json://127.0.0.1:9/{HOOK_TOKEN}"]}, format="json")
    bad = api.post(f"/api/git/stacks/{stack['id']}/notifications/test")
    assert bad.status_code == 502 and len(bad.json()["problems"]) == 1 and HOOK_TOKEN not in bad.content.decode()
    refused = api.put(f"/api/git/stacks/{stack['id']}", {"notifyUrls": ["not a url"]}, format="json")
    assert refused.status_code == 400 and "notifyUrls" in refused.json()["fields"]


def test_the_stack_form_sets_urls_write_only_and_the_page_sends_a_test(
    admin: Any, receiver: Receiver, docker_image: str
) -> None:
    browser = Client()
    browser.force_login(admin)
    form = {
        "stackName": "told",
        "repositoryId": "new",
        "url": "https://git.example.test/told.git",
        "skipSourceCheck": "on",  # not a real remote: saved unchecked
        "credentialId": "",
        "composePath": "compose.yaml",
        "autoUpdateCron": "0 3 * * *",
        "healthTimeout": "0",
    }
    assert 'value="skipped" >' in browser.get("/stacks/new/").content.decode().replace("  ", " ")  # opt-in
    created = browser.post(
        "/stacks/new/",
        {**form, "notifyUrls": receiver.url(f"page/{HOOK_TOKEN}"), "notifyEvents": ["failure", "rollback"]},
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    stack = GitStack.objects.get(name="told")
    assert stack.notify_urls == receiver.url(f"page/{HOOK_TOKEN}") and stack.notify_events == ["failure", "rollback"]
    for page in (f"/stacks/{stack.pk}/", f"/stacks/{stack.pk}/edit/"):
        shown = browser.get(page).content.decode()
        assert "json://127.0.0.1…" in shown and HOOK_TOKEN not in shown

    # Saved again with the URL box left empty: the URLs stay.
    assert browser.post(f"/stacks/{stack.pk}/edit/", {**form, "notifyEvents": ["failure"]}).status_code == 302
    stack.refresh_from_db()
    assert stack.notify_urls == receiver.url(f"page/{HOOK_TOKEN}") and stack.notify_events == ["failure"]

    sent = browser.post(f"/stacks/{stack.pk}/notify-test/")
    assert sent.status_code == 200 and "Test notification sent" in sent.content.decode()
    assert receiver.wait_for(1)[0]["body"]["title"] == "dockhand: test notification"

    assert browser.post(f"/stacks/{stack.pk}/edit/", {**form, "clearNotifyUrls": "on"}).status_code == 302
    stack.refresh_from_db()
    assert stack.notify_urls == ""


def test_the_environment_form_sets_urls_and_sends_a_test(admin: Any, receiver: Receiver) -> None:
    browser = Client()
    browser.force_login(admin)
    form = {"name": "staging", "dockerHost": "", "policy": "none", "protection": "none"}
    url = receiver.url(f"env/{HOOK_TOKEN}")
    assert (
        browser.post("/environments/new/", {**form, "notifyUrls": url, "notifyEvents": ["failure"]}).status_code == 302
    )
    environment = Environment.objects.get(name="staging")
    assert environment.notify_urls == url and environment.notify_events == ["failure"]
    page = browser.get(f"/environments/{environment.pk}/edit/").content.decode()
    assert "json://127.0.0.1…" in page and HOOK_TOKEN not in page and 'id="notify-test"' in page
    sent = browser.post(f"/environments/{environment.pk}/notify-test/")
    assert sent.status_code == 200 and "Test notification sent" in sent.content.decode()
    assert receiver.wait_for(1)[0]["body"]["message"] == "A test message for environment staging."


def test_rollback_branch_missing_and_out_of_sync_are_told(
    api: Any, app_repo: Any, make_stack: Any, receiver: Receiver, docker_image: str
) -> None:
    stack = make_stack(app_repo, webhookEnabled=True, notifyUrls=[receiver.url("all")])
    name = stack["stackName"]
    first = _sync(api, stack).json()
    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    assert _sync(api, stack).json()["deployed"] is True
    rolled = api.post(f"/api/git/stacks/{stack['id']}/rollback", {"deploymentId": first["deploymentId"]}, format="json")
    assert rolled.status_code in (200, 202), rolled.content
    assert [r["body"]["title"] for r in receiver.wait_for(3)][2] == f"dockhand: {name} rolled back"

    # Paused by the rollback: a push is not deployed, and that is told.
    pushed = app_repo.commit({"compose.yaml": compose_file("3")}, "version 3")
    hook = hooks.github_push(app_repo, stack["webhookSecret"], before=hooks.ZERO, shas=[pushed])
    answer = Client().post(
        f"/api/git/stacks/{stack['id']}/webhook", hook.body, content_type="application/json", **hook.meta()
    )
    assert answer.status_code == 200 and answer.json()["ignored"] is True
    told = receiver.wait_for(4)[3]["body"]
    assert told["title"] == f"dockhand: {name} out of sync" and "was not deployed" in told["message"]

    gone = {"autoSyncPaused": False, "branch": "no-such-branch"}
    api.put(f"/api/git/stacks/{stack['id']}?check=false", gone, format="json")
    assert _sync(api, stack).status_code >= 400
    assert receiver.wait_for(5)[4]["body"]["title"] == f"dockhand: {name} branch missing"
    for message in receiver.received:
        assert SECRET_VALUE not in message["raw"] and stack["webhookSecret"] not in message["raw"]
