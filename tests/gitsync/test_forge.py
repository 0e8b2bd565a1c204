"""gitsync/forge.py against a local forge that speaks each forge's documented API
(tests/support/forge.py: no real forge is reachable here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitsync import forge
from tests.support.forge import ForgeServer

TOKEN = "forge-Token-51c0ffee"
REPOS = {f"team/app-{i:02d}": ["main", "dev", f"feature-{i}"] for i in range(25)} | {"team/api": ["trunk", "next"]}


@pytest.fixture(params=["github", "gitlab", "gitea"])
def server(request: pytest.FixtureRequest) -> Iterator[ForgeServer]:
    running = ForgeServer(kind=request.param, token=TOKEN, repos=REPOS)
    yield running
    running.stop()


def _client(server: ForgeServer, token: str = TOKEN) -> forge.Forge:
    return forge.Forge(kind=server.kind, api_url=server.api_url, token=token)


def _ref(server: ForgeServer, name: str) -> str:
    """What statuses and branches name a repository by (GitLab: the project id)."""
    return str(list(REPOS).index(name) + 1) if server.kind == "gitlab" else name


def test_a_status_is_posted_in_the_forge_s_own_shape(server: ForgeServer) -> None:
    forge.post_status(
        _client(server),
        repo=_ref(server, "team/api"),
        sha="a" * 40,
        state="pending",
        target_url="https://dockhand.example.test/deployments/7/",
        description="#7 deploying to local",
        context="dockhand/local/api",
    )
    [posted] = server.statuses()
    assert posted.authorized
    expected_path = {"github": "/repos/team/api/statuses/", "gitea": "/repos/team/api/statuses/"}.get(
        server.kind, "/projects/26/statuses/"
    )
    assert posted.path == expected_path + "a" * 40
    name = "name" if server.kind == "gitlab" else "context"
    assert posted.body == {
        "state": "pending",
        "description": "#7 deploying to local",
        name: "dockhand/local/api",
        "target_url": "https://dockhand.example.test/deployments/7/",
    }


def test_failure_is_each_forge_s_word_for_it(server: ForgeServer) -> None:
    forge.post_status(
        _client(server),
        repo=_ref(server, "team/api"),
        sha="b" * 40,
        state="failure",
        target_url="",
        description="x",
        context="c",
    )
    body = server.statuses()[0].body
    assert body["state"] == ("failed" if server.kind == "gitlab" else "failure")
    assert "target_url" not in body  # no public URL: no link rather than a relative one


def test_repositories_come_a_page_at_a_time(server: ForgeServer) -> None:
    first = forge.list_repositories(_client(server))
    second = forge.list_repositories(_client(server), page=2)

    assert len(first.items) == forge.PER_PAGE and first.has_more
    assert len(second.items) == len(REPOS) - forge.PER_PAGE and not second.has_more
    api = next(r for r in second.items if r.name == "team/api")
    assert (api.default_branch, api.ref, api.clone_url) == (
        "trunk",
        _ref(server, "team/api"),
        "https://forge.example.test/team/api.git",
    )


def test_a_search_narrows_the_repositories(server: ForgeServer) -> None:
    found = forge.list_repositories(_client(server), query="api")
    assert [r.name for r in found.items] == ["team/api"]


def test_branches_of_a_repository_with_a_search(server: ForgeServer) -> None:
    client = _client(server)
    assert forge.list_branches(client, repo=_ref(server, "team/app-03")).items == ["main", "dev", "feature-3"]
    assert forge.list_branches(client, repo=_ref(server, "team/app-03"), query="feat").items == ["feature-3"]


def test_a_wrong_token_is_an_error_without_the_token(server: ForgeServer) -> None:
    with pytest.raises(forge.ForgeError) as caught:
        forge.list_repositories(_client(server, token="wrong-Token-123"))
    assert "401" in str(caught.value)
    assert "wrong-Token-123" not in str(caught.value) and TOKEN not in str(caught.value)


def test_a_forge_that_does_not_answer_in_time_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = ForgeServer(kind="github", token=TOKEN, repos=REPOS, delay=1.5)
    monkeypatch.setattr(forge, "STATUS_TIMEOUT", 0.3)
    try:
        with pytest.raises(forge.ForgeError, match="could not be reached"):
            forge.post_status(
                _client(slow),
                repo="team/api",
                sha="c" * 40,
                state="success",
                target_url="",
                description="",
                context="c",
            )
    finally:
        slow.stop()


def test_gitea_has_no_public_api_to_default_to() -> None:
    with pytest.raises(forge.ForgeError, match="give its API URL"):
        forge.api_url_for("gitea", "")
    assert forge.api_url_for("github", "") == "https://api.github.com"
