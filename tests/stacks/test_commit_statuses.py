"""Each deploy tells the repository's forge `pending`, then `success` or `failure`, for
the deployed commit, with a link to the deployment page. The forge is a local server in
each forge's documented shape (tests/support/forge.py): no real forge is reachable here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import compose_file
from tests.support.forge import ForgeServer

pytestmark = pytest.mark.django_db

TOKEN = "forge-Token-9e1d"
PUBLIC = "https://dockhand.example.test"


@pytest.fixture(params=["github", "gitlab", "gitea"])
def forge_server(request: pytest.FixtureRequest) -> Iterator[ForgeServer]:
    server = ForgeServer(kind=request.param, token=TOKEN, repos={"team/app": ["main"]})
    yield server
    server.stop()


@pytest.fixture
def forge_stack(
    api: APIClient, forge_server: ForgeServer, make_stack: Any, app_repo: Any, settings: Any
) -> dict[str, Any]:
    settings.PUBLIC_URL = PUBLIC
    credential = api.post(
        "/api/git/credentials",
        {"name": "forge", "authType": "token", "token": TOKEN, "urlPrefixes": [forge_server.prefix]},
        format="json",
    ).json()
    stack = make_stack(app_repo)
    repo = "1" if forge_server.kind == "gitlab" else "team/app"
    changed = api.put(
        f"/api/git/repositories/{stack['repositoryId']}",
        {
            "forge": forge_server.kind,
            "forgeApiUrl": forge_server.api_url,
            "forgeRepo": repo,
            "forgeCredentialId": credential["id"],
        },
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["forge"] == forge_server.kind
    return stack


def test_a_deploy_posts_pending_then_success_for_its_commit(
    api: APIClient, forge_server: ForgeServer, forge_stack: dict[str, Any], app_repo: Any, docker_image: str
) -> None:
    result = api.post(f"/api/git/stacks/{forge_stack['id']}/sync", {}, format="json").json()
    assert result["deployed"] is True, result

    pending, done = forge_server.wait_for_statuses(2)
    sha = app_repo.head()
    assert pending.path.endswith(f"/statuses/{sha}") and done.path.endswith(f"/statuses/{sha}")
    assert pending.authorized and done.authorized
    assert (pending.body["state"], done.body["state"]) == ("pending", "success")
    assert done.body["target_url"] == f"{PUBLIC}/deployments/{result['deploymentId']}/"
    context = done.body["name" if forge_server.kind == "gitlab" else "context"]
    assert context == f"dockhand/local/{forge_stack['stackName']}"


def test_a_failed_deploy_posts_failure(
    api: APIClient, forge_server: ForgeServer, forge_stack: dict[str, Any], app_repo: Any, docker_image: str
) -> None:
    app_repo.commit(
        {"compose.yaml": "services:\n  app:\n    image: does-not-exist.invalid/x\n    pull_policy: never\n"}, "broken"
    )
    result = api.post(f"/api/git/stacks/{forge_stack['id']}/sync", {}, format="json").json()
    assert result["success"] is False

    pending, done = forge_server.wait_for_statuses(2)
    assert pending.body["state"] == "pending"
    assert done.body["state"] == ("failed" if forge_server.kind == "gitlab" else "failure")
    assert done.path.endswith(f"/statuses/{app_repo.head()}")


@pytest.mark.parametrize("forge_server", ["github"], indirect=True)
def test_a_forge_that_refuses_never_fails_the_deploy(
    api: APIClient, forge_server: ForgeServer, forge_stack: dict[str, Any], docker_image: str, caplog: Any
) -> None:
    forge_server.refuse_statuses = True
    result = api.post(f"/api/git/stacks/{forge_stack['id']}/sync", {}, format="json").json()
    assert result["success"] is True and result["deployed"] is True
    assert len(forge_server.wait_for_statuses(2)) == 2
    deadline = time.monotonic() + 5
    # The forge has both requests once its 500 for the second is sent: the warning for
    # it is logged just after, so wait for that one (the first's is there already).
    while "commit status success for team/app" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "commit status success for team/app" in caplog.text and "answered 500" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("forge_server", ["github"], indirect=True)
def test_a_slow_forge_does_not_slow_the_deploy(
    api: APIClient, forge_server: ForgeServer, forge_stack: dict[str, Any], app_repo: Any, docker_image: str
) -> None:
    def deploy(version: str) -> float:
        app_repo.commit({"compose.yaml": compose_file(version)}, version)
        started = time.monotonic()
        result = api.post(f"/api/git/stacks/{forge_stack['id']}/sync", {}, format="json").json()
        assert result["deployed"] is True
        return time.monotonic() - started

    api.post(f"/api/git/stacks/{forge_stack['id']}/sync", {}, format="json")  # warm: image, network
    usual = deploy("2")
    forge_server.wait_for_statuses(4)
    forge_server.delay = 5.0
    slowed = deploy("3")

    assert slowed < usual + 2.5  # two posts of 5 s each on the deploy's path would add 10 s
    assert len(forge_server.wait_for_statuses(6, timeout=20)) == 6


def test_the_forge_token_must_be_allowed_to_reach_the_forge_api(
    api: APIClient, forge_server: ForgeServer, make_stack: Any, app_repo: Any, token_credential: dict[str, Any]
) -> None:
    stack = make_stack(app_repo, skipSourceCheck=True)
    refused = api.put(
        f"/api/git/repositories/{stack['repositoryId']}",
        {
            "forge": forge_server.kind,
            "forgeApiUrl": forge_server.api_url,
            "forgeRepo": "team/app",
            "forgeCredentialId": token_credential["id"],
        },
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("forgeCredentialId:")
    missing = api.put(f"/api/git/repositories/{stack['repositoryId']}", {"forge": "gitea"}, format="json")
    assert missing.status_code == 400 and missing.json()["error"].startswith("forgeRepo:")
