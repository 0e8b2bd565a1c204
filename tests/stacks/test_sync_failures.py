"""A sync that fails leaves the running stack alone and says why, without secrets."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from stacks.models import Deployment, GitStack
from stacks.services.lock import BUSY_MESSAGE
from tests.conftest import GIT_TOKEN, SECRET_VALUE, compose_file, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


def _sync(api: Any, stack: dict[str, Any], **body: Any) -> Any:
    return api.post(f"/api/git/stacks/{stack['id']}/sync", body, format="json")


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        (compose_file("2", image="dockhand-test/does-not-exist:1"), "does-not-exist"),
        ("services:\n  app: [this is: not valid\n", "compose.yaml is not valid YAML (line 3)"),
    ],
    ids=["missing-image", "syntax-error"],
)
def test_a_failing_compose_file_keeps_the_previous_containers(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, broken: str, says: str
) -> None:
    stack = make_stack(app_repo)
    good = app_repo.head()
    assert _sync(api, stack).json()["deployed"] is True
    before = dockersupport.inspect(container_name(stack))
    app_repo.commit({"compose.yaml": broken}, "break it")

    response = _sync(api, stack)
    body = response.json()
    assert response.status_code == 500
    assert body["success"] is False and body["deployed"] is False
    assert says in body["error"]
    after = dockersupport.inspect(container_name(stack))
    assert after["Id"] == before["Id"] and after["State"]["Running"] is True  # type: ignore[index]
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert shown["lastCommit"] == good
    assert shown["syncStatus"] == "failed" and says in shown["syncError"]
    # The lock was released: fixing the file deploys again.
    fixed = app_repo.commit({"compose.yaml": compose_file("3")}, "fix it")
    body = _sync(api, stack).json()
    assert body["deployed"] is True and body["commit"] == fixed


def test_a_wrong_token_is_a_clear_auth_error_without_the_token(api: Any, app_repo: Any, make_stack: Any) -> None:
    wrong = "ghp-Wrong-Token-0000aaaa"
    cred = api.post(
        "/api/git/credentials",
        {"name": "wrong", "authType": "token", "username": "deployer", "token": wrong, "urlPrefixes": [app_repo.url]},
        format="json",
    ).json()
    stack = make_stack(app_repo, credentialId=cred["id"], skipSourceCheck=True)  # (refused at create otherwise)
    response = _sync(api, stack)
    body = response.json()
    assert response.status_code == 500
    assert body["success"] is False
    assert "authentication failed" in body["error"].lower()
    assert app_repo.url in body["error"]
    text = response.content.decode() + str([(d.output_text(), d.error) for d in Deployment.objects.all()])
    assert wrong not in text and GIT_TOKEN not in text


def test_an_unreachable_remote_answers_502(api: Any, make_stack: Any, app_repo: Any) -> None:
    app_repo.url = "http://127.0.0.1:9/nothing.git"  # the discard port: nothing listens
    # The git server's credential may not go there; saved unchecked, as the remote is not there.
    stack = make_stack(app_repo, credentialId=None, skipSourceCheck=True)
    response = _sync(api, stack)
    assert response.status_code == 502, response.content
    assert response.json()["success"] is False


def test_a_second_sync_while_one_holds_the_lock_gets_409(api: Any, app_repo: Any, make_stack: Any) -> None:
    stack = make_stack(app_repo)
    GitStack.objects.filter(pk=stack["id"]).update(
        lock_owner=10**9, lock_expires=timezone.now() + timedelta(minutes=5), sync_status="syncing"
    )
    response = _sync(api, stack)
    assert response.status_code == 409
    assert response.json() == {"success": False, "error": BUSY_MESSAGE, "code": "stack_busy"}
    assert Deployment.objects.filter(stack_id=stack["id"]).count() == 0  # a refusal is no attempt


def test_a_lock_whose_lease_ran_out_is_taken_back(api: Any, app_repo: Any, make_stack: Any, docker_image: str) -> None:
    stack = make_stack(app_repo)
    GitStack.objects.filter(pk=stack["id"]).update(
        lock_owner=10**9, lock_expires=timezone.now() - timedelta(seconds=1), sync_status="syncing"
    )
    body = _sync(api, stack).json()
    assert body["success"] is True and body["deployed"] is True
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None


def test_a_compose_path_symlinked_out_of_the_checkout_is_refused(
    api: Any, app_repo: Any, make_stack: Any, compose_calls: list[str]
) -> None:
    os.symlink("/etc/passwd", app_repo.work / "evil.yaml")
    app_repo.commit({}, "add a symlink leaving the repository")
    stack = make_stack(app_repo, composePath="evil.yaml")
    body = _sync(api, stack).json()
    assert body["success"] is False
    assert "outside the repository" in body["error"]
    assert compose_calls == []


def test_secrets_are_never_written_to_disk(api: Any, app_repo: Any, make_stack: Any, docker_image: str) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    git_config = (Path(settings.STACKS_DIR) / str(stack["id"]) / "repo" / ".git" / "config").read_text()
    # Fetched by URL: no remote is configured, so nothing of the URL or its user is kept.
    assert "[remote" not in git_config and "deployer" not in git_config
    for path in Path(settings.DATA_DIR).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET_VALUE.encode() not in data, path
            assert GIT_TOKEN.encode() not in data, path
