"""The database stops taking writes in the middle of a deploy (another program holds
SQLite's write lock past dockhand's busy timeout; PostgreSQL stops): once it takes writes
again the deployment has ended and the stack is free, without waiting for a lease
(Step 10)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, need, slow_compose_file, unique_stack_name
from tests.support import docker as dockersupport
from tests.support import postgres
from tests.support.product import ApiClient, running_product, wait_until

ADMIN_PASSWORD = "dbfault-Admin-pass-7713"


def test_a_deploy_through_a_locked_database_ends_and_frees_its_stack_when_it_returns(
    tmp_path: Path, git_server: Any, docker_image: str
) -> None:
    data = tmp_path / "data"
    with running_product(data, ADMIN_PASSWORD) as product:  # the default lease: 120 s
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
        repo = git_server.create_repo(f"dblock-{unique_stack_name()}", {"compose.yaml": slow_compose_file(seconds=3)})
        stack = client.post(
            "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential}
        ).json()
        try:
            deployment = client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false").json()["deploymentId"]
            wait_until(
                "the deploy runs compose",
                lambda: "Deploying" in client.get(f"/api/deployments/{deployment}").json()["output"],
                60,
            )
            holder = sqlite3.connect(data / "dockhand.sqlite3", timeout=5, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                # Longer than two busy timeouts (20 s each): a line written during the deploy
                # fails, and so does the first write of the deployment's end.
                time.sleep(45)
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            released = time.monotonic()

            ended = wait_until(
                "the deployment ends",
                lambda: (
                    (d := client.get(f"/api/deployments/{deployment}").json())["status"] not in ("queued", "running")
                    and d
                ),
                45,
            )
            assert ended["status"] in ("success", "failed"), ended
            assert time.monotonic() - released < 45  # not the 120 s lease
            row = client.get(f"/api/git/stacks/{stack['id']}").json()
            assert row["syncStatus"] in ("success", "failed")
            # The stack is free: the next sync runs.
            repo.commit({"compose.yaml": compose_file("2")}, "v2")
            again = client.post(f"/api/git/stacks/{stack['id']}/sync", timeout=120)
            assert again.status_code == 200 and again.json()["deployed"] is True, again.text
        finally:
            dockersupport.remove_project(stack["projectName"])


def test_a_deploy_through_a_postgresql_outage_ends_and_frees_its_stack_when_it_returns(
    tmp_path: Path, git_server: Any, docker_image: str
) -> None:
    need("postgres", postgres.available())
    database = postgres.PostgresServer()
    try:
        with running_product(
            tmp_path / "data", ADMIN_PASSWORD, {"DATABASE_URL": database.create_database()}
        ) as product:
            product.wait_healthy(90)
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
            repo = git_server.create_repo(
                f"pgdown-{unique_stack_name()}", {"compose.yaml": slow_compose_file(seconds=4)}
            )
            stack = client.post(
                "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential}
            ).json()
            try:
                deployment = client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false").json()["deploymentId"]
                wait_until(
                    "the deploy runs compose",
                    lambda: "Deploying" in client.get(f"/api/deployments/{deployment}").json()["output"],
                    60,
                )
                database.pause()  # every connection dropped; down for 20 s, past the deploy's end
                time.sleep(20)
                database.start()
                returned = time.monotonic()
                ended = wait_until(
                    "the deployment ends",
                    lambda: (
                        (d := client.get(f"/api/deployments/{deployment}").json())["status"]
                        not in ("queued", "running")
                        and d
                    ),
                    60,
                )
                assert ended["status"] in ("success", "failed", "interrupted"), ended
                assert time.monotonic() - returned < 60  # not the 120 s lease
                assert client.get(f"/api/git/stacks/{stack['id']}").json()["syncStatus"] in ("success", "failed")
                repo.commit({"compose.yaml": compose_file("2")}, "v2")
                again = client.post(f"/api/git/stacks/{stack['id']}/sync", timeout=120)
                assert again.status_code == 200 and again.json()["deployed"] is True, again.text
            finally:
                dockersupport.remove_project(stack["projectName"])
    finally:
        database.stop()
