"""`GET /api/forge/repositories|branches`: the stack form's picker lists a forge
account's repositories and a repository's branches, through gitsync/forge.py, against a
local forge in each forge's documented shape (tests/support/forge.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from gitsync import forge
from tests.support.forge import ForgeServer

pytestmark = pytest.mark.django_db

TOKEN = "forge-Token-b20e"
REPOS = {f"team/svc-{i:02d}": ["main", "release"] for i in range(22)} | {"team/shop": ["trunk", "next"]}


@pytest.fixture(params=["github", "gitlab", "gitea"])
def forge_server(request: pytest.FixtureRequest) -> Iterator[ForgeServer]:
    server = ForgeServer(kind=request.param, token=TOKEN, repos=dict(REPOS))  # (a test may add one)
    yield server
    server.stop()


@pytest.fixture
def credential(api: APIClient, forge_server: ForgeServer) -> int:
    made = api.post(
        "/api/git/credentials",
        {"name": "forge", "authType": "token", "token": TOKEN, "urlPrefixes": [forge_server.prefix]},
        format="json",
    )
    return int(made.json()["id"])


def _query(forge_server: ForgeServer, credential: int, **more: Any) -> dict[str, Any]:
    return {"forge": forge_server.kind, "apiUrl": forge_server.api_url, "credentialId": credential, **more}


def test_repositories_page_by_page_and_by_search(api: APIClient, forge_server: ForgeServer, credential: int) -> None:
    first = api.get("/api/forge/repositories", _query(forge_server, credential)).json()
    second = api.get("/api/forge/repositories", _query(forge_server, credential, page=2)).json()
    found = api.get("/api/forge/repositories", _query(forge_server, credential, q="shop")).json()

    assert (len(first["data"]), first["hasMore"]) == (20, True)
    assert (len(second["data"]), second["hasMore"], second["page"]) == (3, False, 2)
    [shop] = found["data"]
    assert shop["name"] == "team/shop" and shop["defaultBranch"] == "trunk"
    assert shop["cloneUrl"] == "https://forge.example.test/team/shop.git"
    assert all(r.authorized for r in forge_server.requests)


def test_branches_of_the_repository_picked(api: APIClient, forge_server: ForgeServer, credential: int) -> None:
    shop = api.get("/api/forge/repositories", _query(forge_server, credential, q="shop")).json()["data"][0]
    branches = api.get("/api/forge/branches", _query(forge_server, credential, repo=shop["ref"])).json()
    narrowed = api.get("/api/forge/branches", _query(forge_server, credential, repo=shop["ref"], q="nex")).json()
    assert branches["data"] == ["trunk", "next"] and narrowed["data"] == ["next"]


def test_a_branch_search_finds_a_match_on_a_later_page(
    api: APIClient, forge_server: ForgeServer, credential: int
) -> None:
    # GitHub's and Gitea's branch lists take no search: a match past the first page of
    # the list must still be found, and the matches come a page at a time.
    forge_server.repos["team/many"] = [f"b-{i:03d}" for i in range(250)] + ["late-fix"]
    many = api.get("/api/forge/repositories", _query(forge_server, credential, q="many")).json()["data"][0]

    def search(q: str, page: int = 1) -> dict[str, Any]:
        return api.get("/api/forge/branches", _query(forge_server, credential, repo=many["ref"], q=q, page=page)).json()

    assert search("late")["data"] == ["late-fix"]
    first, last = search("b-1"), search("b-1", page=5)  # b-100 … b-199
    assert (len(first["data"]), first["hasMore"]) == (20, True)
    assert (last["data"], last["hasMore"]) == ([f"b-{i}" for i in range(180, 200)], False)

    if forge_server.kind == "gitlab":
        return  # GitLab searches its branches itself: there is no scan
    # A forge that answers its first page whatever is asked (and always says "next") is
    # read twice, not SCAN_PAGES times, and its names come once.
    forge_server.ignore_page, before = True, len(forge_server.requests)
    assert search("b-00")["data"] == [f"b-00{i}" for i in range(10)]
    assert len(forge_server.requests) - before == 2


def test_a_token_outside_its_prefixes_is_never_sent(
    api: APIClient, forge_server: ForgeServer, token_credential: dict[str, Any]
) -> None:
    response = api.get("/api/forge/repositories", _query(forge_server, token_credential["id"]))
    assert response.status_code == 400
    assert response.json()["error"].startswith("credentialId:")
    assert forge_server.requests == []


@pytest.mark.parametrize("forge_server", ["github"], indirect=True)
def test_bad_questions_name_the_field(
    api: APIClient, forge_server: ForgeServer, credential: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.get("/api/forge/repositories", {"forge": "bitbucket"}).json()["error"].startswith("forge:")
    assert (
        api.get("/api/forge/repositories", {"forge": "gitea", "credentialId": credential})
        .json()["error"]
        .startswith("apiUrl:")
    )
    assert api.get("/api/forge/branches", _query(forge_server, credential)).json()["error"].startswith("repo:")
    monkeypatch.setattr(forge, "BROWSE_TIMEOUT", 0.2)
    forge_server.delay = 1.0
    down = api.get("/api/forge/repositories", _query(forge_server, credential))
    assert down.status_code == 502 and TOKEN not in down.content.decode()


@pytest.mark.parametrize("forge_server", ["github"], indirect=True)
def test_only_who_makes_stacks_browses(
    forge_server: ForgeServer, credential: int, deployer: Any, env_admin: Any
) -> None:
    client = APIClient()
    client.force_login(deployer)
    assert client.get("/api/forge/repositories", _query(forge_server, credential)).status_code == 403
    client.force_login(env_admin)
    assert client.get("/api/forge/repositories", _query(forge_server, credential)).status_code == 200
    from gitsync.models import Credential
    from stacks.models import Environment

    elsewhere = Environment.objects.create(name="elsewhere")
    Credential.objects.filter(pk=credential).update(environment_ids=[elsewhere.pk])
    refused = client.get("/api/forge/repositories", _query(forge_server, credential))
    assert refused.status_code == 400 and refused.json()["error"].startswith("credentialId: this credential is limited")


@pytest.mark.parametrize("forge_server", ["gitea"], indirect=True)
def test_the_repository_page_sets_the_forge_for_commit_statuses(
    admin: Any, forge_server: ForgeServer, credential: int, git_server: Any, token_credential: dict[str, Any]
) -> None:
    from django.test import Client

    from gitsync.models import Repository

    client = Client()
    client.force_login(admin)
    form = {
        "url": git_server.url("page-repo"),
        "branch": "main",
        "credentialId": token_credential["id"],
        "forge": "gitea",
    }
    refused = client.post("/repositories/new/", {**form, "forgeRepo": "team/shop", "forgeCredentialId": credential})
    assert refused.status_code == 400 and "has no public API" in refused.content.decode()  # Gitea's must be given
    saved = client.post(
        "/repositories/new/",
        {**form, "forgeApiUrl": forge_server.api_url, "forgeRepo": "team/shop", "forgeCredentialId": credential},
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    repository = Repository.objects.get(url=form["url"])
    assert (repository.forge, repository.forge_repo, repository.forge_credential_id) == (
        "gitea",
        "team/shop",
        credential,
    )
    page = client.get(f"/repositories/{repository.pk}/edit/").content.decode()
    assert 'value="team/shop"' in page and '<option value="gitea" selected>' in page
