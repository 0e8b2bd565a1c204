"""Every error body under /api/ carries a stable machine-readable `code` beside its
`{"error"}` message (Step 16): from the domain error where one is known (`stack_busy`,
`branch_missing`, …), else from the status."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dockhand.ratelimit import State, too_many
from gitsync import git
from gitsync.models import Repository
from stacks.models import GitStack
from stacks.services.stacks import local_environment
from tests.conftest import compose_file
from tests.support.gitserver import git as run_git

pytestmark = pytest.mark.django_db


@pytest.fixture
def stack() -> GitStack:
    repository = Repository.objects.create(name="r", url="https://git.example.test/r.git")
    return GitStack.objects.create(name="s", environment=local_environment(), repository=repository, project_name="s")


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_an_unknown_address_is_not_found(api: APIClient) -> None:
    answer = api.get("/api/no/such/thing")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"


def test_a_missing_record_is_not_found(api: APIClient) -> None:
    assert api.get("/api/git/stacks/999").json() == {"error": "Git stack not found", "code": "not_found"}


def test_a_bad_field_is_a_validation_error(api: APIClient) -> None:
    answer = api.post("/api/git/stacks", {"stackName": ""}, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "validation_error" and answer.json()["error"]


def test_no_session_is_unauthenticated() -> None:
    answer = APIClient().get("/api/git/stacks")
    assert answer.status_code == 401 and answer.json() == {
        "error": "Authentication required",
        "code": "unauthenticated",
    }


def test_a_role_too_low_is_forbidden(viewer: Any, stack: GitStack) -> None:
    answer = _as(viewer).delete(f"/api/git/stacks/{stack.pk}")
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"


def test_a_held_lock_is_stack_busy(api: APIClient, stack: GitStack) -> None:
    GitStack.objects.filter(pk=stack.pk).update(lock_owner=10**9, lock_expires=timezone.now() + timedelta(minutes=5))
    answer = api.post(f"/api/git/stacks/{stack.pk}/sync", {}, format="json")
    assert answer.status_code == 409 and answer.json()["code"] == "stack_busy"
    assert answer.json()["error"] and answer.json()["success"] is False


def test_a_branch_gone_upstream_is_branch_missing(api: APIClient, git_server: Any, make_stack: Any) -> None:
    repo = git_server.create_repo(f"gone-{uuid.uuid4().hex[:8]}", {"compose.yaml": compose_file()})
    run_git("push", "-q", "origin", "HEAD:refs/heads/feature", cwd=repo.work)
    repo.branch = "feature"
    stack = make_stack(repo, envFilePath="")
    run_git("push", "-q", "origin", ":feature", cwd=repo.work)  # deleted on the real git server

    answer = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")

    assert answer.status_code == 500, answer.content  # the sync ran, and failed
    assert answer.json()["code"] == "branch_missing"
    assert answer.json()["error"] == f"Branch 'feature' does not exist in {repo.url}"


def test_an_unreachable_remote_is_remote_unreachable(
    api: APIClient, stack: GitStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(**_: Any) -> str:
        raise git.GitError("Cannot reach the remote", unreachable=True)

    monkeypatch.setattr(git, "remote_head", unreachable)
    answer = api.post(f"/api/git/stacks/{stack.pk}/sync", {}, format="json")
    assert answer.status_code == 502 and answer.json()["code"] == "remote_unreachable"


def test_a_plain_views_error_gets_its_statuss_code(api: APIClient, stack: GitStack) -> None:
    # The webhook is a plain Django view building its own {"error"}: the middleware adds the code.
    stack.record(webhook_enabled=True, webhook_secret="s3cret")
    answer = APIClient().post(f"/api/git/stacks/{stack.pk}/webhook", b"{}", content_type="application/json")
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"


def test_a_limit_reached_is_rate_limited() -> None:
    answer = too_many(State(limit=1, used=1, reset=0), "slow down")
    assert answer.status_code == 429 and b'"code": "rate_limited"' in answer.content


def test_a_method_not_offered_says_so(api: APIClient) -> None:
    answer = api.patch("/api/git/stacks", {}, format="json")
    assert answer.status_code == 405 and answer.json()["code"] == "method_not_allowed"
