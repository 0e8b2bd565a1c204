"""One repository webhook fans out to the stacks whose folders a push touched."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from stacks.models import Deployment
from tests.conftest import compose_file
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db


def test_a_monorepo_push_redeploys_only_the_stack_whose_folder_changed(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    repo = git_server.create_repo(
        "monorepo", {f"{svc}/compose.yaml": compose_file("1") for svc in ("svc-a", "svc-b", "svc-c")}
    )
    stacks = {
        svc: make_stack(repo, composePath=f"{svc}/compose.yaml", envFilePath="", watchPaths=[svc], webhookEnabled=True)
        for svc in ("svc-a", "svc-b", "svc-c")
    }
    for stack in stacks.values():
        assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    repository = api.get(f"/api/git/repositories/{stacks['svc-a']['repositoryId']}").json()
    assert repository["webhookUrl"].endswith(f"/api/git/repositories/{repository['id']}/webhook")
    before = repo.head()
    changed = repo.commit({"svc-b/compose.yaml": compose_file("2")}, "bump svc-b")

    hook = hooks.github_push(repo, repository["webhookSecret"], before=before, shas=[changed])
    response = APIClient().post(
        f"/api/git/repositories/{repository['id']}/webhook",
        data=hook.body,
        content_type="application/json",
        **hook.meta(),
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert [d["stackId"] for d in body["deployments"]] == [stacks["svc-b"]["id"]]
    assert sorted(i["stackId"] for i in body["ignored"]) == sorted([stacks["svc-a"]["id"], stacks["svc-c"]["id"]])
    assert dockersupport.container_env(f"{stacks['svc-b']['projectName']}-app-1")["VERSION"] == "2"
    for svc in ("svc-a", "svc-c"):
        assert dockersupport.container_env(f"{stacks[svc]['projectName']}-app-1")["VERSION"] == "1"
        assert Deployment.objects.filter(stack_id=stacks[svc]["id"], trigger="webhook").count() == 0
    # Each stack lists what the repository webhook did for it.
    b_rows = api.get(f"/api/git/stacks/{stacks['svc-b']['id']}/webhooks").json()["data"]
    a_rows = api.get(f"/api/git/stacks/{stacks['svc-a']['id']}/webhooks").json()["data"]
    assert [(r["via"], r["result"]) for r in b_rows] == [("repository", "accepted")]
    assert [(r["via"], r["result"], r["reason"]) for r in a_rows] == [
        ("repository", "ignored", "no watched path was touched")
    ]
    # The repository's secret, not a stack's, signs it.
    forged = hooks.github_push(repo, stacks["svc-b"]["webhookSecret"], before=before, shas=[changed])
    assert (
        APIClient()
        .post(
            f"/api/git/repositories/{repository['id']}/webhook",
            data=forged.body,
            content_type="application/json",
            **forged.meta(),
        )
        .status_code
        == 401
    )
