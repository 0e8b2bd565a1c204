"""Dashboard pages: they render, need a session, and show every validation error the
API has inline, next to its field."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest
from django.test import Client

from gitsync.models import Credential, Repository
from stacks.models import GitStack, StackEnvVar

pytestmark = pytest.mark.django_db

SECRET = "page-Secret-Value-8812"


@pytest.fixture
def browser(admin: Any) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def stack(api: Any) -> GitStack:
    created = api.post(
        "/api/git/stacks?check=false",
        {
            "stackName": "shop",
            "url": "https://git.example.test/shop.git",
            "envVars": [{"key": "DB_PASSWORD", "value": SECRET, "isSecret": True}, {"key": "MODE", "value": "prod"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    return GitStack.objects.get(pk=created.json()["id"])


def _inline(response: Any, field: str) -> str:
    html = response.content.decode()
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', html)
    assert found, f"no inline error for {field} in the page"
    return html_lib.unescape(found.group(1))


def test_pages_need_a_session_and_honour_next() -> None:
    response = Client().get("/stacks/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/stacks/"


def test_every_page_renders(browser: Client, stack: GitStack) -> None:
    repo = stack.repository
    for url in (
        "/stacks/",
        "/stacks/rows/",
        "/stacks/new/",
        f"/stacks/{stack.pk}/",
        f"/stacks/{stack.pk}/edit/",
        f"/stacks/{stack.pk}/delete/",
        "/credentials/",
        "/credentials/new/",
        "/repositories/",
        "/repositories/new/",
        f"/repositories/{repo.pk}/edit/",
        "/environments/",
        "/environments/new/",
        "/password/",
        "/stacks/cron-preview/?autoUpdateCron=0+3+*+*+*",
    ):
        response = browser.get(url)
        assert response.status_code == 200, (url, response.status_code)
    assert browser.get("/static/favicon.svg").status_code == 200


def test_empty_states_say_what_to_do(browser: Client) -> None:
    assert "Create your first stack" in browser.get("/stacks/").content.decode()
    assert "Add a credential" in browser.get("/credentials/").content.decode()
    assert "Add a repository" in browser.get("/repositories/").content.decode()


def test_a_secret_override_never_reaches_the_page_source(browser: Client, stack: GitStack) -> None:
    html = browser.get(f"/stacks/{stack.pk}/").content.decode()
    assert SECRET not in html
    assert "set — leave empty to keep" in html
    assert 'value="prod"' in html  # plain values are shown


def test_the_overrides_editor_keeps_an_untouched_secret_and_adds_rows(browser: Client, stack: GitStack) -> None:
    response = browser.post(
        f"/stacks/{stack.pk}/env/",
        {
            "row": ["0", "1", "new1"],
            "key": ["DB_PASSWORD", "MODE", "REGION"],
            "value": ["", "staging", "eu"],
            "secret": ["0"],
        },
    )
    assert response.status_code == 302
    values = {v.key: (v.value, v.is_secret) for v in StackEnvVar.objects.filter(stack=stack)}
    assert values == {"DB_PASSWORD": (SECRET, True), "MODE": ("staging", False), "REGION": ("eu", False)}
    removed = browser.post(
        f"/stacks/{stack.pk}/env/",
        {"row": ["0", "1"], "key": ["DB_PASSWORD", "MODE"], "value": ["", "x"], "secret": ["0"], "remove": ["1"]},
    )
    assert removed.status_code == 302
    assert list(StackEnvVar.objects.filter(stack=stack).values_list("key", flat=True)) == ["DB_PASSWORD"]


def test_a_bad_override_name_is_shown_inline(browser: Client, stack: GitStack) -> None:
    response = browser.post(f"/stacks/{stack.pk}/env/", {"row": ["0"], "key": ["1BAD"], "value": ["x"]})
    assert response.status_code == 400
    assert "is not a valid variable name" in response.content.decode()


def _new_stack(browser: Client, **fields: str) -> Any:
    data = {
        "stackName": "web",
        "repositoryId": "new",
        "url": "https://git.example.test/web.git",
        "credentialId": "",
        "composePath": "compose.yaml",
        "autoUpdateCron": "0 3 * * *",
        **fields,
    }
    return browser.post("/stacks/new/", data)


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"url": "ext::sh -c touch% /tmp/x"}, "url", "must not contain spaces"),
        ({"url": "ext::sh%20-c%20id"}, "url", "must be an https://"),
        ({"url": "file:///etc"}, "url", "must be an https://"),
        ({"url": "-uhelp"}, "url", "must not start with '-'"),
        ({"url": "https://u:pw@example.test/a.git"}, "url", "must not contain credentials"),
        ({"credentialId": "4242"}, "credentialId", "does not exist"),
        ({"composePath": "../compose.yaml"}, "composePath", "must not contain '..'"),
        ({"composePath": "/etc/passwd"}, "composePath", "relative to the repository"),
        ({"envFilePath": "../../.env"}, "envFilePath", "must not contain '..'"),
        ({"autoUpdateCron": "every day"}, "autoUpdateCron", "not a valid 5-field cron"),
        ({"branch": "-x"}, "branch", "must not start with"),
        ({"branch": "a..b"}, "branch", "not a valid branch name"),
        ({"watchPaths": "../up"}, "watchPaths", "must not contain '..'"),
        ({"stackName": ""}, "stackName", "may not be blank"),
        ({"repositoryId": "new", "url": ""}, "url", "may not be blank"),
    ],
)
def test_each_stack_validation_error_is_shown_inline(
    browser: Client, fields: dict[str, str], field: str, says: str
) -> None:
    response = _new_stack(browser, **fields)
    assert response.status_code == 400
    assert says in _inline(response, field)
    assert not GitStack.objects.exists()


def test_duplicate_names_are_shown_inline(browser: Client, stack: GitStack) -> None:
    assert "already exists" in _inline(_new_stack(browser, stackName="shop"), "stackName")
    # "Shop" is another name but the same compose project ("shop").
    assert "already used by another stack" in _inline(_new_stack(browser, stackName="Shop"), "projectName")


def test_an_inline_credential_needs_its_secret(browser: Client) -> None:
    response = _new_stack(
        browser, credentialId="new", newCredentialName="gh", newCredentialType="token", newCredentialSecret=""
    )
    assert "is required for authType token" in _inline(response, "newCredential.token")
    assert not Credential.objects.exists() and not GitStack.objects.exists()


def test_a_stack_with_a_new_repository_and_credential_is_created_in_one_form(browser: Client) -> None:
    response = _new_stack(
        browser,
        credentialId="new",
        newCredentialName="gh",
        newCredentialType="token",
        newCredentialSecret="tok-123-abc",
        autoUpdate="on",
        autoUpdateCron="0 */6 * * *",
        webhookEnabled="on",
        skipSourceCheck="on",  # git.example.test is not there: saved unchecked, as asked
    )
    assert response.status_code == 302
    stack = GitStack.objects.get(name="web")
    assert stack.repository.credential is not None and stack.repository.credential.token == "tok-123-abc"
    assert stack.auto_update and stack.webhook_enabled and stack.auto_update_cron == "0 */6 * * *"
    assert response["Location"] == f"/stacks/{stack.pk}/"


@pytest.mark.parametrize(
    ("url", "data", "field", "says"),
    [
        ("/credentials/new/", {"name": "x", "authType": "token"}, "token", "is required for authType token"),
        (
            "/credentials/new/",
            {"name": "x", "authType": "ssh", "sshPrivateKey": "nope"},
            "sshPrivateKey",
            "private key",
        ),
        ("/credentials/new/", {"name": "", "authType": "none"}, "name", "may not be blank"),
        ("/repositories/new/", {"url": "file:///srv/x", "branch": "main"}, "url", "must be an https://"),
        ("/repositories/new/", {"url": "https://e.test/a.git", "branch": "a..b"}, "branch", "not a valid branch name"),
        (
            "/repositories/new/",
            {"url": "https://e.test/a.git", "branch": "main", "credentialId": "99"},
            "credentialId",
            "does not exist",
        ),
        ("/environments/new/", {"name": "edge", "dockerHost": "bash -c x"}, "dockerHost", "must be a unix://"),
        ("/environments/new/", {"name": "local", "dockerHost": ""}, "name", "already exists"),
    ],
)
def test_each_resource_validation_error_is_shown_inline(
    browser: Client, url: str, data: dict[str, str], field: str, says: str
) -> None:
    response = browser.post(url, data)
    assert response.status_code == 400
    assert says in _inline(response, field)


def test_a_credential_secret_left_empty_on_edit_is_kept(browser: Client) -> None:
    assert (
        browser.post(
            "/credentials/new/",
            {"name": "gl", "authType": "token", "token": "glpat-keep-me", "urlPrefixes": "https://gitlab.example/"},
        ).status_code
        == 302
    )
    cred = Credential.objects.get(name="gl")
    assert "glpat-keep-me" not in browser.get(f"/credentials/{cred.pk}/edit/").content.decode()
    assert (
        browser.post(f"/credentials/{cred.pk}/edit/", {"name": "gitlab", "authType": "token", "token": ""}).status_code
        == 302
    )
    cred.refresh_from_db()
    assert (cred.name, cred.token) == ("gitlab", "glpat-keep-me")


def test_deleting_asks_first_and_refuses_what_is_in_use(browser: Client, stack: GitStack) -> None:
    repo = Repository.objects.get(pk=stack.repository_id)
    assert "This cannot be undone" in browser.get(f"/repositories/{repo.pk}/delete/").content.decode()
    refused = browser.post(f"/repositories/{repo.pk}/delete/")
    assert refused.status_code == 409 and "used by stacks: shop" in refused.content.decode()
    assert browser.post(f"/stacks/{stack.pk}/delete/", {}).status_code == 302
    assert browser.post(f"/repositories/{repo.pk}/delete/").status_code == 302


def test_the_cron_preview_shows_three_runs_or_the_error(browser: Client) -> None:
    ok = browser.get("/stacks/cron-preview/?autoUpdateCron=0+*+*+*+*").content.decode()
    assert ok.count("<li>") == 3
    bad = browser.get("/stacks/cron-preview/?autoUpdateCron=nope").content.decode()
    assert "not a valid 5-field cron" in bad


def test_failed_logins_do_not_say_which_half_was_wrong(admin: Any) -> None:
    client = Client(enforce_csrf_checks=False)
    bad_user = client.post("/login/", {"username": "nobody", "password": "admin-pass-123"}).content.decode()
    bad_pass = client.post("/login/", {"username": "admin", "password": "nope"}).content.decode()
    for html in (bad_user, bad_pass):
        assert "Wrong username or password." in html
    ok = client.post(
        "/login/?next=/credentials/", {"username": "admin", "password": "admin-pass-123", "next": "/credentials/"}
    )
    assert ok.status_code == 302 and ok["Location"] == "/credentials/"


def test_a_user_changes_their_password(browser: Client, admin: Any) -> None:
    wrong = browser.post(
        "/password/", {"old_password": "nope", "new_password1": "New-pass-9876", "new_password2": "New-pass-9876"}
    )
    assert wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
    done = browser.post(
        "/password/",
        {"old_password": "admin-pass-123", "new_password1": "New-pass-9876", "new_password2": "New-pass-9876"},
    )
    assert done.status_code == 302 and done["Location"] == "/password/done/"
    assert Client().login(username="admin", password="New-pass-9876")


def test_the_login_page_points_a_first_start_to_the_printed_password(admin: Any) -> None:
    html = Client().get("/login/").content.decode()
    assert "First start" in html and "make run" in html
    Client().login(username="admin", password="admin-pass-123")
    assert "First start" not in Client().get("/login/").content.decode()
