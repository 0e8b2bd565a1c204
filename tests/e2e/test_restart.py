"""The product killed outright (power cut, OOM, `docker kill`) with one deploy running and
two queued, then started again: none of the queued deploys is lost, none runs twice, the
dead one ends `interrupted` at once and runs again once (trigger `recovery`)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, need, slow_compose_file, unique_stack_name
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "restart-Admin-pass-5120"
ONE_WORKER = {"DOCKHAND_WORKERS": "1"}  # so two syncs have to wait in the queue


def _stack(client: ApiClient, repo: Any, credential: int) -> dict[str, Any]:
    created = client.post(
        "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential}
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def _deployment(client: ApiClient, deployment_id: int) -> dict[str, Any]:
    return dict(client.get(f"/api/deployments/{deployment_id}").json())


def _wait_for(client: ApiClient, deployment_id: int, statuses: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _deployment(client, deployment_id)
        if found["status"] in statuses:
            return found
        time.sleep(0.3)
    raise AssertionError(f"deployment {deployment_id} not {statuses} after {timeout} s: {found}")


def test_a_killed_product_loses_no_queued_deploy_and_runs_none_twice(
    tmp_path: Path, git_server: Any, docker_image: str
) -> None:
    need("make", shutil.which("make") is not None)
    data = tmp_path / "data"
    projects: list[str] = []
    try:
        first = Product(data, ADMIN_PASSWORD, ONE_WORKER)
        try:
            first.wait_healthy(60)
            client = ApiClient(first.url, "admin", ADMIN_PASSWORD)
            credential = client.post(
                "/api/git/credentials",
                {
                    "name": "c",
                    "authType": "token",
                    "username": GIT_USER,
                    "token": GIT_TOKEN,
                    "urlPrefixes": [git_server.prefix],
                },
            ).json()["id"]
            slow_repo = git_server.create_repo(
                f"slow-{unique_stack_name()}", {"compose.yaml": slow_compose_file(seconds=15)}
            )
            slow = _stack(client, slow_repo, credential)
            quick = [
                _stack(
                    client,
                    git_server.create_repo(f"q-{unique_stack_name()}", {"compose.yaml": compose_file("1")}),
                    credential,
                )
                for _ in range(2)
            ]
            projects += [s["projectName"] for s in (slow, *quick)]

            running = client.post(f"/api/git/stacks/{slow['id']}/sync?wait=false").json()["deploymentId"]
            _wait_for(client, running, {"running"}, 30)
            queued = [client.post(f"/api/git/stacks/{s['id']}/sync?wait=false").json()["deploymentId"] for s in quick]
            time.sleep(1)  # let the worker's pusher take one of them off the broker
            assert [_deployment(client, d)["status"] for d in queued] == ["queued", "queued"]
        finally:
            first.power_cut()  # web, worker, compose: all SIGKILLed, nothing shuts down cleanly

        with running_product(data, ADMIN_PASSWORD, ONE_WORKER) as second:
            second.wait_healthy(60)
            client = ApiClient(second.url, "admin", ADMIN_PASSWORD)
            dead = _deployment(client, running)
            assert dead["status"] == "interrupted", (dead["error"], dead["output"])  # at start, not after the lease
            for deployment_id in queued:
                done = _wait_for(client, deployment_id, {"success", "failed", "interrupted"}, 90)
                assert done["status"] == "success" and done["deployed"], done
                assert done["output"].count("Deploying ") == 1, done["output"]  # ran once
            for stack in quick:  # and no second attempt was recorded either
                assert client.get(f"/api/git/stacks/{stack['id']}/deployments").json()["meta"]["total"] == 1
            # The dead deploy runs again by itself (once, trigger `recovery`): the stack ends
            # running what it was deploying, not half of it.
            runs = client.get(f"/api/git/stacks/{slow['id']}/deployments").json()["data"]
            (rerun,) = [r for r in runs if r["trigger"] == "recovery"]
            done = _wait_for(client, rerun["id"], {"success", "failed", "interrupted"}, 90)
            assert done["status"] == "success" and done["deployed"], done
            assert len(runs) == 2
    finally:
        for project in projects:
            dockersupport.remove_project(project)
