"""The stack form asks the remote before it saves, and while the user types: the
branches and files the remote has are offered under the fields, a wrong one is named
inline with the typed input kept, and overrides can be given on the create form."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from gitsync.models import Credential, Repository
from stacks.models import GitStack, StackEnvVar
from tests.conftest import GIT_TOKEN, GIT_USER, compose_file
from tests.support.gitserver import GitServer, TestRepo
from tests.support.gitserver import git as run_git

pytestmark = pytest.mark.django_db

NOWHERE = "http://127.0.0.1:9/app.git"
SECRET = "created-Secret-Value-5521"


@pytest.fixture
def page(admin: Any) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def repo(git_server: GitServer) -> TestRepo:
    made = git_server.create_repo(
        f"form-{uuid.uuid4().hex[:8]}",
        {"deploy/compose.yml": compose_file(), "docker-compose.yaml": compose_file(), "deploy/.env": "A=1\n"},
    )
    run_git("push", "-q", "origin", "HEAD:refs/heads/develop", cwd=made.work)
    return made


@pytest.fixture
def credential(git_server: GitServer) -> Credential:
    return Credential.objects.create(
        name="ci-token", auth_type="token", username=GIT_USER, token=GIT_TOKEN, url_prefixes=[git_server.prefix]
    )


def _form(url: str, credential: Credential | None, **fields: Any) -> dict[str, Any]:
    return {
        "stackName": "web",
        "repositoryId": "new",
        "url": url,
        "credentialId": str(credential.pk) if credential else "",
        "composePath": "docker-compose.yaml",
        "autoUpdateCron": "0 3 * * *",
        **fields,
    }


def _inline(html: str, field: str) -> str:
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', html)
    assert found, f"no inline error for {field}"
    return html_lib.unescape(found.group(1))


def _offered(html: str, field: str) -> list[str]:
    return [html_lib.unescape(v) for v in re.findall(rf'data-fill="{field}" data-value="([^"]*)"', html)]


def test_a_wrong_branch_is_refused_inline_with_the_branches_offered_and_the_input_kept(
    page: Client, repo: TestRepo, credential: Credential
) -> None:
    response = page.post("/stacks/new/", _form(repo.url, credential, branch="mian", watchPaths="deploy"))
    assert response.status_code == 400
    html = response.content.decode()
    assert _inline(html, "branch") == "no branch 'mian'; the remote has: main, develop"
    assert _offered(html, "branch") == ["main", "develop"]
    assert '<option value="develop"></option>' in html  # the branch field's datalist
    assert 'id="branch" name="branch" value="mian"' in html and f'value="{repo.url}"' in html
    assert 'id="stackName" name="stackName" value="web"' in html and ">deploy</textarea>" in html
    assert 'id="source-refused"' in html and 'id="skipSourceCheck"' in html
    assert not GitStack.objects.exists() and not Repository.objects.exists()

    picked = page.post("/stacks/new/", _form(repo.url, credential, branch="develop"))
    assert picked.status_code == 302
    assert GitStack.objects.get(name="web").branch == "develop"


def test_a_wrong_compose_path_names_the_files_found_and_offers_them(
    page: Client, repo: TestRepo, credential: Credential
) -> None:
    html = page.post("/stacks/new/", _form(repo.url, credential, composePath="compose.yaml")).content.decode()
    assert _inline(html, "composePath") == (
        "no compose.yaml at the root of main; compose files found: docker-compose.yaml, deploy/compose.yml"
    )
    assert _offered(html, "composePath") == ["docker-compose.yaml", "deploy/compose.yml"]
    assert "✓ The remote answered: 2 branches, default main" in html
    html = page.post("/stacks/new/", _form(repo.url, credential, envFilePath=".env")).content.decode()
    assert _inline(html, "envFilePath") == "no .env at the root of main; env files found: deploy/.env"


def test_an_unreachable_remote_is_refused_until_saved_without_checking(page: Client) -> None:
    refused = page.post("/stacks/new/", _form(NOWHERE, None))
    assert refused.status_code == 400
    assert _inline(refused.content.decode(), "url").startswith("the remote did not answer: ")
    saved = page.post("/stacks/new/", _form(NOWHERE, None, skipSourceCheck="on"))
    assert saved.status_code == 302 and GitStack.objects.get().repository.url == NOWHERE


def test_an_inline_credential_is_tried_before_anything_is_saved(page: Client, repo: TestRepo) -> None:
    inline = {"credentialId": "new", "newCredentialName": "gh", "newCredentialType": "token"}
    wrong = _form(repo.url, None, **inline, newCredentialUsername=GIT_USER, newCredentialSecret="wrong-Token-44")
    html = page.post("/stacks/new/", wrong).content.decode()
    assert _inline(html, "url").startswith("authentication failed with credential 'gh': ")
    assert "wrong-Token-44" not in html
    assert not Credential.objects.exists() and not GitStack.objects.exists()
    right = _form(repo.url, None, **inline, newCredentialUsername=GIT_USER, newCredentialSecret=GIT_TOKEN)
    assert page.post("/stacks/new/", right).status_code == 302
    assert GitStack.objects.get().repository.credential == Credential.objects.get(name="gh")


def test_overrides_are_set_while_creating_and_a_refused_form_keeps_them_but_no_secret(
    page: Client, repo: TestRepo, credential: Credential
) -> None:
    rows = {"row": ["0", "1", "2"], "key": ["MODE", "API_KEY", ""], "value": ["prod", SECRET, ""], "secret": ["1"]}
    refused = page.post("/stacks/new/", _form(repo.url, credential, branch="nope", **rows))
    html = refused.content.decode()
    assert refused.status_code == 400
    assert 'name="key" value="MODE"' in html and 'value="prod"' in html and 'name="key" value="API_KEY"' in html
    assert SECRET not in html and "secret: type it again" in html
    bad = page.post("/stacks/new/", _form(repo.url, credential, row=["0"], key=["1BAD"], value=["x"]))
    assert bad.status_code == 400 and "is not a valid variable name" in bad.content.decode()

    assert page.post("/stacks/new/", _form(repo.url, credential, **rows)).status_code == 302
    stack = GitStack.objects.get()
    assert {v.key: (v.value, v.is_secret) for v in StackEnvVar.objects.filter(stack=stack)} == {
        "MODE": ("prod", False),
        "API_KEY": (SECRET, True),
    }


def test_the_live_check_offers_branches_and_files_as_the_user_types(
    page: Client, repo: TestRepo, credential: Credential
) -> None:
    typed = {"repositoryId": "new", "url": repo.url, "credentialId": str(credential.pk), "branch": ""}
    html = page.post("/stacks/source-check/", {**typed, "composePath": "compose.yaml"}).content.decode()
    assert html.count('hx-swap-oob="true"') == 7  # every source field's feedback, in place
    assert "✓ The remote answered: 2 branches, default main" in html and "✓ main is at " in html
    assert _offered(html, "branch") == ["main", "develop"]
    assert _inline(html, "composePath").startswith("no compose.yaml at the root of main; compose files found:")
    assert _offered(html, "composePath") == ["docker-compose.yaml", "deploy/compose.yml"]

    wrong = page.post("/stacks/source-check/", {**typed, "branch": "mian"}).content.decode()
    assert _inline(wrong, "branch") == "no branch 'mian'; the remote has: main, develop"
    bad = page.post("/stacks/source-check/", {**typed, "branch": "a..b"}).content.decode()
    assert "not a valid branch name" in _inline(bad, "branch")
    assert _offered(bad, "branch") == ["main", "develop"]  # the remote is still asked about the rest
    nothing = page.post("/stacks/source-check/", {**typed, "url": ""}).content.decode()
    assert "data-error-for" not in nothing and "data-fill" not in nothing and "✓" not in nothing
    waiting = page.post(
        "/stacks/source-check/", {**typed, "credentialId": "new", "newCredentialName": "gh"}
    ).content.decode()
    assert "Fill in the new credential to check the repository." in waiting
    assert not GitStack.objects.exists() and not Credential.objects.exclude(pk=credential.pk).exists()


def test_the_edit_form_asks_only_when_the_source_moves(page: Client, credential: Credential, repo: TestRepo) -> None:
    assert page.post("/stacks/new/", _form(NOWHERE, None, skipSourceCheck="on")).status_code == 302
    stack = GitStack.objects.get()
    unchanged = {"stackName": "web", "repositoryId": str(stack.repository_id), "composePath": "docker-compose.yaml"}
    assert page.post(f"/stacks/{stack.pk}/edit/", {**unchanged, "autoUpdateCron": "0 3 * * *"}).status_code == 302
    moved = page.post(
        f"/stacks/{stack.pk}/edit/", {**unchanged, "autoUpdateCron": "0 3 * * *", "branch": "develop"}
    ).content.decode()
    assert _inline(moved, "repositoryId").startswith("the remote did not answer: ")
    known = Repository.objects.create(name="app", url=repo.url, credential=credential)
    to_repo = {**unchanged, "autoUpdateCron": "0 3 * * *", "repositoryId": str(known.pk), "branch": "develop"}
    assert page.post(f"/stacks/{stack.pk}/edit/", to_repo).status_code == 302
    live = page.post(f"/stacks/{stack.pk}/source-check/", to_repo).content.decode()
    assert "✓ develop is at " in live and "✓ Found on develop" in live


def test_only_who_may_create_stacks_may_ask(client: Client, viewer: Any, repo: TestRepo) -> None:
    client.force_login(viewer)
    assert client.post("/stacks/source-check/", {"repositoryId": "new", "url": repo.url}).status_code == 403
