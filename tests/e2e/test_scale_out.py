"""Scale-out mode for real (tests/support/nodes.py: PostgreSQL, Redis, `make run` and a
second `manage.py qcluster` with its own data dir, as on another host). Fifty triggers
(API syncs and signed webhooks, each after a new commit) hit ten stacks at once:
every stack ends on its newest commit, no deployment runs twice, none is lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, unique_stack_name
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks
from tests.support.gitserver import TestRepo
from tests.support.nodes import two_nodes
from tests.support.product import ApiClient, Product

ADMIN_PASSWORD = "scale-Admin-pass-7733"
STACKS, ROUNDS = 10, 5
UNSETTLED = {"queued", "running", "pending_approval"}


@pytest.fixture
def scale_out(tmp_path: Path, docker_image: str) -> Iterator[tuple[Product, dict[str, str]]]:
    with two_nodes(tmp_path, ADMIN_PASSWORD) as nodes:
        yield nodes.product, nodes.shared


def _settled(client: ApiClient, stack_id: int) -> list[dict[str, Any]] | None:
    stack = client.get(f"/api/git/stacks/{stack_id}").json()
    runs = client.get(f"/api/git/stacks/{stack_id}/deployments?limit=200").json()
    runs = runs["data"]
    if stack["syncStatus"] in ("queued", "syncing") or any(r["status"] in UNSETTLED for r in runs):
        return None
    return list(runs)


def test_fifty_triggers_at_ten_stacks_on_two_worker_nodes(
    scale_out: tuple[Product, dict[str, str]], git_server: Any
) -> None:
    product, shared = scale_out
    client = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    assert client.get("/api/health").json()["details"] == "healthy"
    credential = client.post(
        "/api/git/credentials",
        {
            "name": "git",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()["id"]
    repos: list[TestRepo] = []
    stacks: list[dict[str, Any]] = []
    for _ in range(STACKS):
        repo = git_server.create_repo(f"scale-{unique_stack_name()}", {"compose.yaml": compose_file("0")})
        created = client.post(
            "/api/git/stacks",
            {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential, "webhookEnabled": True},
        )
        assert created.status_code == 201, created.text
        repos.append(repo)
        stacks.append(created.json())
    try:
        versions = {i: 0 for i in range(STACKS)}
        locks = {i: threading.Lock() for i in range(STACKS)}

        def trigger(n: int) -> int:
            i = n % STACKS
            with locks[i]:  # one pusher per repository, as with git itself
                versions[i] += 1
                before = repos[i].head()
                sha = repos[i].commit({"compose.yaml": compose_file(str(versions[i]))}, f"v{versions[i]}")
            stack = stacks[i]
            # Rounds alternate: webhooks (which queue a follow-up when the stack is busy)
            # and API syncs (which answer 409 when busy); the last round is webhooks.
            if (n // STACKS) % 2 == 0:
                hook = hooks.github_push(repos[i], stack["webhookSecret"], before=before, shas=[sha])
                answer = requests.post(
                    f"{product.url}/api/git/stacks/{stack['id']}/webhook",
                    data=hook.body,
                    headers=hook.headers,
                    timeout=60,
                )
                assert answer.status_code == 202, answer.text
            else:
                answer = client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false", {})
                # Accepted, or refused as busy (409): then the running one's own check of
                # the branch, or a webhook's follow-up, must still bring the newest commit.
                assert answer.status_code in (200, 202, 409), answer.text
            return answer.status_code

        with ThreadPoolExecutor(25) as pool:
            answers = list(pool.map(trigger, range(STACKS * ROUNDS)))
        assert len(answers) == STACKS * ROUNDS

        deadline = time.monotonic() + 300
        histories: dict[int, list[dict[str, Any]]] = {}
        while len(histories) < STACKS and time.monotonic() < deadline:
            for stack in stacks:
                if stack["id"] not in histories:
                    found = _settled(client, stack["id"])
                    if found is not None:
                        histories[stack["id"]] = found
            time.sleep(1)
        assert len(histories) == STACKS, "some stacks never settled"

        for i, stack in enumerate(stacks):
            shown = client.get(f"/api/git/stacks/{stack['id']}").json()
            runs = histories[stack["id"]]
            said = [(r["id"], r["status"], r["trigger"], r["commitSha"][:8], r.get("error")) for r in runs]
            assert shown["lastCommit"] == repos[i].head(), f"stack {i} is not on its newest commit: {shown}, {said}"
            assert dockersupport.container_env(f"{stack['projectName']}-app-1")["VERSION"] == str(ROUNDS)
            assert all(r["status"] in ("success", "skipped") for r in runs), runs
            for run in runs:
                detail = client.get(f"/api/deployments/{run['id']}").json()
                # Ran once: one start line, one worker.
                started = [line for line in detail["output"].splitlines() if line.startswith("Deploying ")]
                assert len(started) <= 1, detail["output"]
        with psycopg.connect(shared["DATABASE_URL"]) as db:
            workers = [row[0] for row in db.execute("SELECT worker FROM stacks_deployment WHERE worker <> ''")]
        nodes = {worker.split(":")[0] for worker in workers}
        assert {"node-a", "node-b"} <= nodes, f"both worker nodes should have run deployments: {nodes}"
    finally:
        for stack in stacks:
            dockersupport.remove_project(stack["projectName"])
