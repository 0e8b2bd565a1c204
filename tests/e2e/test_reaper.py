"""A worker killed outright mid-deploy (OOM, kill -9) while a push arrives: with nobody
acting, the clock's reaper ends the dead deploy `interrupted` once its lease runs out and
the push is deployed (Step 10)."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import requests

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, slow_compose_file, unique_stack_name
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks
from tests.support.product import ApiClient, running_product, wait_until

ADMIN_PASSWORD = "reaper-Admin-pass-3391"
# A short lease (renewed every 2.5 s) so the test waits seconds, not minutes.
SETTINGS = {"DOCKHAND_LOCK_LEASE": "10", "DOCKHAND_WORKERS": "1"}


def _deployments(client: ApiClient, stack_id: int) -> list[dict[str, Any]]:
    return list(client.get(f"/api/git/stacks/{stack_id}/deployments").json()["data"])


def test_a_worker_killed_mid_deploy_is_reaped_and_the_push_sent_meanwhile_deploys(
    tmp_path: Path, git_server: Any, docker_image: str
) -> None:
    data = tmp_path / "data"
    with running_product(data, ADMIN_PASSWORD, SETTINGS) as product:
        product.wait_healthy(60)
        client = ApiClient(product.url, "admin", ADMIN_PASSWORD)
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
        repo = git_server.create_repo(f"reap-{unique_stack_name()}", {"compose.yaml": slow_compose_file(seconds=4)})
        stack = client.post(
            "/api/git/stacks",
            {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential, "webhookEnabled": True},
        ).json()
        try:
            first = client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false").json()["deploymentId"]
            wait_until(
                "the first deploy runs compose",
                lambda: (
                    (d := client.get(f"/api/deployments/{first}").json())["status"] == "running"
                    and "Deploying" in d["output"]
                ),
                60,
            )
            with sqlite3.connect(data / "dockhand.sqlite3") as db:
                (worker,) = db.execute("SELECT worker FROM stacks_deployment WHERE id = ?", (first,)).fetchone()
            os.kill(int(worker.rpartition(":")[2]), signal.SIGKILL)  # the worker process, mid-deploy

            pushed = repo.commit({"compose.yaml": compose_file("2")}, "v2")
            hook = hooks.github_push(repo, stack["webhookSecret"], before="0" * 40, shas=[pushed])
            answer = requests.post(
                f"{product.url}/api/git/stacks/{stack['id']}/webhook", data=hook.body, headers=hook.headers, timeout=30
            )
            assert answer.status_code == 202 and answer.json()["coalesced"] is True, answer.text

            # Nobody acts from here on.
            deployed = wait_until(
                "the push is deployed",
                lambda: next(
                    (
                        d
                        for d in _deployments(client, stack["id"])
                        if d["trigger"] == "webhook" and d["status"] == "success"
                    ),
                    None,
                ),
                90,
            )
            assert deployed["commitSha"] == pushed
            dead = client.get(f"/api/deployments/{first}").json()
            assert dead["status"] == "interrupted" and "worker" in dead["error"]
            assert dockersupport.container_env(f"{stack['projectName']}-app-1")["VERSION"] == "2"
            assert client.get(f"/api/git/stacks/{stack['id']}").json()["syncStatus"] == "success"
        finally:
            dockersupport.remove_project(stack["projectName"])
