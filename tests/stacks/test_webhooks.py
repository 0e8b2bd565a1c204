"""Per-stack webhooks: each provider's real push drives a real deploy; everything
else gets its answer and starts nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from stacks.models import Deployment
from tests.conftest import compose_file, container_name
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db


def _send(hook: hooks.Hook, stack: dict[str, Any], query: str = "") -> Any:
    # Anonymous on purpose: the secret is the only authentication.
    return APIClient().post(
        f"/api/git/stacks/{stack['id']}/webhook{query}", data=hook.body, content_type="application/json", **hook.meta()
    )


@pytest.fixture
def hooked(api: Any, app_repo: Any, make_stack: Any, docker_image: str) -> dict[str, Any]:
    """A deployed stack with webhooks on; the repo then gets a new commit (VERSION 2)."""
    stack = make_stack(app_repo, webhookEnabled=True)
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    stack["before"] = app_repo.head()
    stack["new"] = app_repo.commit({"compose.yaml": compose_file("2")}, "release version 2")
    return stack


def _deployments(stack: dict[str, Any]) -> int:
    return Deployment.objects.filter(stack_id=stack["id"]).count()


PROVIDERS: dict[str, Callable[..., hooks.Hook]] = {
    "github": hooks.github_push,
    "gitlab": hooks.gitlab_push,
    "gitea": hooks.gitea_push,
}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_signed_push_deploys_the_new_commit(provider: str, hooked: dict[str, Any], app_repo: Any) -> None:
    hook = PROVIDERS[provider](app_repo, hooked["webhookSecret"], before=hooked["before"], shas=[hooked["new"]])
    response = _send(hook, hooked)
    assert response.status_code == 202, response.content
    deployment = Deployment.objects.get(pk=response.json()["deploymentId"])
    assert deployment.trigger == "webhook"
    assert deployment.status == "success" and deployment.commit_sha == hooked["new"]
    assert dockersupport.container_env(container_name(hooked))["VERSION"] == "2"


def test_wait_true_answers_with_the_sync_result(hooked: dict[str, Any], app_repo: Any) -> None:
    hook = hooks.github_push(app_repo, hooked["webhookSecret"], before=hooked["before"], shas=[hooked["new"]])
    response = _send(hook, hooked, "?wait=true")
    assert response.status_code == 200
    assert response.json()["deployed"] is True and response.json()["commit"] == hooked["new"]


def test_a_github_ping_and_a_gitlab_tag_push_start_nothing(hooked: dict[str, Any], app_repo: Any) -> None:
    before = _deployments(hooked)
    ping = _send(hooks.github_ping(hooked["webhookSecret"]), hooked)
    assert ping.status_code == 200 and ping.json()["ok"] is True
    tag = hooks.gitlab_push(
        app_repo, hooked["webhookSecret"], before=hooked["before"], shas=[hooked["new"]], ref="refs/tags/v2", tag=True
    )
    response = _send(tag, hooked)
    assert response.status_code == 200 and response.json()["ignored"] is True
    assert _deployments(hooked) == before


def _tamper(kind: str, hook: hooks.Hook, secret: str) -> hooks.Hook:
    if kind == "wrong-secret":
        return hooks.Hook(
            hook.body, {**hook.headers, "X-Hub-Signature-256": "sha256=" + hooks._sign("wrong-" + secret, hook.body)}
        )
    if kind == "other-body":
        return hooks.Hook(hook.body.replace(b'"forced": false', b'"forced": true'), hook.headers)
    if kind == "missing-header":
        return hooks.Hook(hook.body, {k: v for k, v in hook.headers.items() if k != "X-Hub-Signature-256"})
    if kind == "secret-in-query":
        return hooks.Hook(hook.body, {k: v for k, v in hook.headers.items() if k != "X-Hub-Signature-256"})
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["wrong-secret", "other-body", "missing-header", "secret-in-query"])
def test_a_bad_signature_is_401_and_starts_nothing(kind: str, hooked: dict[str, Any], app_repo: Any) -> None:
    good = hooks.github_push(app_repo, hooked["webhookSecret"], before=hooked["before"], shas=[hooked["new"]])
    before = _deployments(hooked)
    query = f"?secret={hooked['webhookSecret']}" if kind == "secret-in-query" else ""
    response = _send(_tamper(kind, good, hooked["webhookSecret"]), hooked, query)
    assert response.status_code == 401
    assert hooked["webhookSecret"] not in response.content.decode()
    assert _deployments(hooked) == before


@pytest.mark.parametrize("provider", ["gitlab", "gitea"])
def test_other_providers_wrong_secrets_are_401(provider: str, hooked: dict[str, Any], app_repo: Any) -> None:
    hook = PROVIDERS[provider](app_repo, "not-the-secret", before=hooked["before"], shas=[hooked["new"]])
    assert _send(hook, hooked).status_code == 401


def test_a_replayed_delivery_is_a_duplicate(hooked: dict[str, Any], app_repo: Any) -> None:
    hook = hooks.github_push(app_repo, hooked["webhookSecret"], before=hooked["before"], shas=[hooked["new"]])
    assert _send(hook, hooked).status_code == 202
    before = _deployments(hooked)
    replay = _send(hook, hooked)
    assert replay.status_code == 200 and replay.json() == {"duplicate": True}
    assert _deployments(hooked) == before


def test_another_branch_a_deleted_branch_and_skip_markers_are_ignored(hooked: dict[str, Any], app_repo: Any) -> None:
    secret, before = hooked["webhookSecret"], _deployments(hooked)
    other = hooks.github_push(app_repo, secret, before=hooked["before"], shas=[hooked["new"]], ref="refs/heads/feature")
    deleted = hooks.github_push(app_repo, secret, before=hooked["new"], shas=[], deleted=True)
    skip = app_repo.commit({"README.md": "docs\n"}, "docs only [skip deploy]")
    skipped = hooks.gitea_push(app_repo, secret, before=hooked["new"], shas=[skip])
    ci_skip = app_repo.commit({"README.md": "more docs\n"}, "Update README [SKIP CI]")
    skipped_ci = hooks.gitlab_push(app_repo, secret, before=skip, shas=[ci_skip])
    reasons = []
    for hook in (other, deleted, skipped, skipped_ci):
        response = _send(hook, hooked)
        assert response.status_code == 200, response.content
        assert response.json()["ignored"] is True
        reasons.append(response.json()["reason"])
    assert "feature" in reasons[0] and "deleted" in reasons[1]
    assert "[skip deploy]" in reasons[2] and "[skip ci]" in reasons[3]
    assert _deployments(hooked) == before


def test_a_push_that_touches_no_watched_path_is_ignored(api: Any, hooked: dict[str, Any], app_repo: Any) -> None:
    api.put(f"/api/git/stacks/{hooked['id']}", {"watchPaths": ["deploy/"]}, format="json")
    before = _deployments(hooked)
    docs = app_repo.commit({"docs/guide.md": "hello\n"}, "write a guide")
    response = _send(hooks.github_push(app_repo, hooked["webhookSecret"], before=hooked["new"], shas=[docs]), hooked)
    assert response.status_code == 200
    assert response.json() == {"ignored": True, "reason": "no watched path was touched"}
    assert _deployments(hooked) == before
    touched = app_repo.commit({"deploy/values.env": "A=1\n"}, "tune deploy")
    response = _send(hooks.github_push(app_repo, hooked["webhookSecret"], before=docs, shas=[touched]), hooked)
    assert response.status_code == 202


def test_disabled_unknown_malformed_and_oversized(api: Any, hooked: dict[str, Any], app_repo: Any) -> None:
    secret = hooked["webhookSecret"]
    good = hooks.github_push(app_repo, secret, before=hooked["before"], shas=[hooked["new"]])
    assert _send(good, {"id": 987654}).status_code == 404
    malformed = hooks.Hook(
        b"{not json", {**good.headers, "X-Hub-Signature-256": "sha256=" + hooks._sign(secret, b"{not json")}
    )
    assert _send(malformed, hooked).status_code == 400
    big = json.dumps({"ref": "refs/heads/main", "pad": "x" * (1024 * 1024)}).encode()
    oversized = hooks.Hook(big, {**good.headers, "X-Hub-Signature-256": "sha256=" + hooks._sign(secret, big)})
    assert _send(oversized, hooked).status_code == 413
    api.put(f"/api/git/stacks/{hooked['id']}", {"webhookEnabled": False}, format="json")
    assert _send(good, hooked).status_code == 403
    assert Deployment.objects.filter(stack_id=hooked["id"], trigger="webhook").count() == 0


def test_a_generic_sender_with_the_shared_secret_deploys(hooked: dict[str, Any]) -> None:
    hook = hooks.Hook(b"{}", {"X-Webhook-Secret": hooked["webhookSecret"], "X-Webhook-Delivery": str(uuid.uuid4())})
    response = _send(hook, hooked)
    assert response.status_code == 202
    assert Deployment.objects.get(pk=response.json()["deploymentId"]).commit_sha == hooked["new"]


def test_received_webhooks_are_listed_without_secrets(api: Any, hooked: dict[str, Any], app_repo: Any) -> None:
    hook = hooks.github_push(app_repo, hooked["webhookSecret"], before=hooked["before"], shas=[hooked["new"]])
    deployment_id = _send(hook, hooked).json()["deploymentId"]
    _send(hooks.github_ping(hooked["webhookSecret"]), hooked)
    listed = api.get(f"/api/git/stacks/{hooked['id']}/webhooks")
    rows = listed.json()["data"]
    assert [(r["event"], r["result"]) for r in rows] == [("ping", "ignored"), ("push", "accepted")]
    assert rows[1]["deploymentId"] == deployment_id and rows[1]["provider"] == "github" and rows[1]["via"] == "stack"
    assert hooked["webhookSecret"] not in listed.content.decode()
    assert hook.headers["X-Hub-Signature-256"] not in listed.content.decode()


def test_a_push_is_deployed_with_one_fetch_and_no_ls_remote(
    hooked: dict[str, Any], app_repo: Any, git_server: Any
) -> None:
    # The worker fetches the branch at once: asking for its head first (ls-remote, one
    # more round trip) cost a push ~35 ms of the ~60 the raw commands allow (bench #9).
    hook = hooks.github_push(app_repo, hooked["webhookSecret"], before=hooked["before"], shas=[hooked["new"]])
    asked = len(git_server.requests)
    assert _send(hook, hooked).status_code == 202
    # Authenticated requests only: git asks anonymously first and is told 401.
    seen = [r.split()[1].split("?")[0].rsplit("/", 1)[-1] for r in git_server.requests[asked:] if not r.endswith(" -")]
    # One fetch in git's protocol v2: the capabilities, then ls-refs, then fetch. An
    # ls-remote first would add a capabilities request and an ls-refs of its own.
    assert seen == ["refs", "git-upload-pack", "git-upload-pack"], seen
    assert dockersupport.container_env(container_name(hooked))["VERSION"] == "2"
