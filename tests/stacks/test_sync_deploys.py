"""A sync really deploys: real git server, real Docker engine, inline worker."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GIT_TOKEN, SECRET_VALUE, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


def _sync(api: Any, stack: dict[str, Any], **body: Any) -> Any:
    return api.post(f"/api/git/stacks/{stack['id']}/sync", body, format="json")


def test_it_deploys_with_overrides_and_the_secret_wins(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    response = _sync(api, stack)
    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True and body["deployed"] is True
    assert body["commit"] == app_repo.head()
    env = dockersupport.container_env(container_name(stack))
    assert env["PLAIN"] == "plain-override"  # a plain override beats the repo .env
    assert env["SECRET"] == SECRET_VALUE  # the secret beats the repo .env
    assert env["FROM_REPO"] == "repo-value"
    assert env["GIT_COMMIT_SHA"] == app_repo.head()
    assert dockersupport.inspect(container_name(stack))["State"]["Running"] is True  # type: ignore[index]


def test_the_secret_and_token_appear_in_no_response_or_output(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    seen = [_sync(api, stack).content.decode()]
    for url in (
        f"/api/git/stacks/{stack['id']}",
        "/api/git/stacks",
        f"/api/git/stacks/{stack['id']}/deployments",
        "/api/git/credentials",
        "/api/git/repositories",
    ):
        seen.append(api.get(url).content.decode())
    deployment_id = api.get(f"/api/git/stacks/{stack['id']}/deployments").json()["data"][0]["id"]
    seen.append(api.get(f"/api/deployments/{deployment_id}").content.decode())
    from stacks.models import Deployment

    seen += [d.output_text() + d.error for d in Deployment.objects.all()]
    everything = "\n".join(seen)
    assert "Deploying" in everything  # the output was stored and is shown
    assert SECRET_VALUE not in everything
    assert GIT_TOKEN not in everything
    secret_var = next(v for v in api.get(f"/api/git/stacks/{stack['id']}").json()["envVars"] if v["key"] == "SECRET")
    assert secret_var == {"key": "SECRET", "value": None, "isSecret": True, "hasValue": True}


def test_it_skips_when_commit_unchanged(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, compose_calls: list[str]
) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    first_id = dockersupport.inspect(container_name(stack))["Id"]
    compose_calls.clear()
    response = _sync(api, stack)
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True and body["deployed"] is False
    assert body["commit"] == app_repo.head()
    assert compose_calls == []  # no compose command ran at all
    assert dockersupport.inspect(container_name(stack))["Id"] == first_id
    statuses = [d["status"] for d in api.get(f"/api/git/stacks/{stack['id']}/deployments").json()["data"]]
    assert statuses == ["skipped", "success"]


def test_force_redeploys_an_unchanged_commit(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, compose_calls: list[str]
) -> None:
    stack = make_stack(app_repo)
    _sync(api, stack)
    compose_calls.clear()
    body = _sync(api, stack, force=True).json()
    assert body["deployed"] is True
    assert any(" up " in f" {c} " for c in compose_calls)


def test_a_new_commit_deploys_and_a_force_push_converges(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    from tests.conftest import compose_file

    stack = make_stack(app_repo)
    first = app_repo.head()
    _sync(api, stack)
    second = app_repo.commit({"compose.yaml": compose_file("2"), "README.md": None}, "version 2")
    body = _sync(api, stack).json()
    assert body["deployed"] is True and body["commit"] == second
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "2"
    from django.conf import settings

    workdir = settings.STACKS_DIR / str(stack["id"]) / "repo"
    assert not (workdir / "README.md").exists()  # deleted upstream, gone here

    # Rewrite history back to the first commit: the branch head moved "backwards".
    assert app_repo.force_reset(first) == first
    body = _sync(api, stack).json()
    assert body["deployed"] is True and body["commit"] == first
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"
    assert (workdir / "README.md").exists()
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["lastCommit"] == first


def test_an_unchanged_branch_is_answered_without_the_queue_when_the_caller_waits(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_q import tasks as queue

    from stacks.models import Deployment, GitStack
    from stacks.services.schedules import stack_sync_scheduled
    from stacks.services.skipped import UNCHANGED_NOTE

    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    queued: list[int] = []
    real_enqueue = queue.async_task
    monkeypatch.setattr(queue, "async_task", lambda func, pk, **kw: (queued.append(pk), real_enqueue(func, pk, **kw)))

    # A waiting API call and a schedule: one ls-remote where they are, nothing queued.
    body = _sync(api, stack).json()
    assert body["deployed"] is False and queued == []
    GitStack.objects.filter(pk=stack["id"]).update(auto_update=True)
    assert stack_sync_scheduled(stack_id=stack["id"]).startswith("deployment ") and queued == []
    latest = Deployment.objects.filter(stack_id=stack["id"]).latest("id")
    assert (latest.status, latest.note, latest.commit_sha) == (
        "skipped",
        UNCHANGED_NOTE,
        app_repo.head(),
    )
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None

    # A caller that does not wait, and a new commit, still go through the worker.
    assert api.post(f"/api/git/stacks/{stack['id']}/sync?wait=false", {}, format="json").status_code == 200
    assert len(queued) == 1
    app_repo.commit({"README.md": "new\n"}, "docs")
    assert _sync(api, stack).json()["deployed"] is True and len(queued) == 2
