"""Stopping and restarting the product mid-deploy, for real (Step 10, item 3): Ctrl-C
lets a running deploy finish within the stop grace, or stops its compose, ends it
`interrupted` and the next `make run` runs it again, so the stack runs its desired
state; a restart beside a product whose supervisor died alone is refused, and its live
deploy is left to finish."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.conftest import GIT_TOKEN, GIT_USER, slow_compose_file, unique_stack_name
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, _descendants, running_product, wait_until

ADMIN_PASSWORD = "stop-Admin-pass-8812"


def _stack(client: ApiClient, git_server: Any, seconds: int) -> dict[str, Any]:
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
    repo = git_server.create_repo(f"stop-{unique_stack_name()}", {"compose.yaml": slow_compose_file(seconds=seconds)})
    created = client.post(
        "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential}
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def _start_deploy(client: ApiClient, stack: dict[str, Any]) -> int:
    """Sync without waiting; return once compose is running the deploy."""
    deployment = int(client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false").json()["deploymentId"])
    wait_until(
        "compose runs the deploy",
        lambda: "migrate" in client.get(f"/api/deployments/{deployment}").json()["output"],
        60,
    )
    return deployment


def _rows(data: Path, stack_id: int) -> list[tuple[Any, ...]]:
    """(id, trigger, status, error, retry_of) of the stack's deployments, oldest first,
    read from the database while no product runs."""
    with sqlite3.connect(data / "dockhand.sqlite3") as db:
        query = "SELECT id, trigger, status, error, retry_of_id FROM stacks_deployment WHERE stack_id = ? ORDER BY id"
        return list(db.execute(query, (stack_id,)))


def _app_running(project: str) -> bool:
    return any(c["Names"] == f"{project}-app-1" and c["State"] == "running" for c in dockersupport.containers(project))


def test_ctrl_c_mid_deploy_then_make_run_ends_with_the_stack_running(
    tmp_path: Path, git_server: Any, docker_image: str
) -> None:
    data = tmp_path / "data"
    # A short grace, so that this deploy (ten seconds of `migrate`) cannot finish in it.
    quick_stop = {"DOCKHAND_STOP_GRACE": "2", "DOCKHAND_CANCEL_GRACE": "2"}
    product = Product(data, ADMIN_PASSWORD, quick_stop)
    project = ""
    try:
        product.wait_healthy(60)
        client = ApiClient(product.url, "admin", ADMIN_PASSWORD)
        stack = _stack(client, git_server, seconds=10)
        project = stack["projectName"]
        deployment = _start_deploy(client, stack)

        began = time.monotonic()
        product.interrupt()  # Ctrl-C (make itself dies of it: its code says nothing)
        assert time.monotonic() - began < 20  # grace, compose stopped, its end written

        (stopped, rerun) = _rows(data, stack["id"])
        assert stopped[:4] == (
            deployment,
            "api",
            "interrupted",
            "dockhand was stopped before this deploy finished; it runs again on start.",
        )
        assert rerun[1:3] == ("recovery", "queued") and rerun[4] == deployment
        assert not _app_running(project)  # half-deployed: this is what the next start repairs

        with running_product(data, ADMIN_PASSWORD, quick_stop) as again:
            again.wait_healthy(60)
            client = ApiClient(again.url, "admin", ADMIN_PASSWORD)
            done = wait_until(
                "the re-run ends",
                lambda: (
                    (d := client.get(f"/api/deployments/{rerun[0]}").json())["status"] not in ("queued", "running")
                    and d
                ),
                90,
            )
            assert done["status"] == "success" and done["deployed"], done
            assert _app_running(project)
            assert client.get(f"/api/git/stacks/{stack['id']}").json()["syncStatus"] == "success"
    finally:
        product.kill()
        if project:
            dockersupport.remove_project(project)


def test_ctrl_c_lets_a_deploy_that_fits_in_the_grace_finish(tmp_path: Path, git_server: Any, docker_image: str) -> None:
    data = tmp_path / "data"
    product = Product(data, ADMIN_PASSWORD, {"DOCKHAND_STOP_GRACE": "30"})
    project = ""
    try:
        product.wait_healthy(60)
        client = ApiClient(product.url, "admin", ADMIN_PASSWORD)
        stack = _stack(client, git_server, seconds=4)
        project = stack["projectName"]
        deployment = _start_deploy(client, stack)

        product.interrupt()

        assert [row[:3] for row in _rows(data, stack["id"])] == [(deployment, "api", "success")]
        assert _app_running(project)
    finally:
        product.kill()
        if project:
            dockersupport.remove_project(project)


def test_a_restart_beside_live_children_is_refused_and_their_deploy_finishes(
    tmp_path: Path, git_server: Any, docker_image: str
) -> None:
    data = tmp_path / "data"
    first = Product(data, ADMIN_PASSWORD)
    project, orphans = "", []
    try:
        first.wait_healthy(60)
        client = ApiClient(first.url, "admin", ADMIN_PASSWORD)
        stack = _stack(client, git_server, seconds=6)
        project = stack["projectName"]
        deployment = _start_deploy(client, stack)
        orphans = _descendants(first.proc.pid)
        supervisor = next(pid for pid in orphans if b"dockhand.supervise" in Path(f"/proc/{pid}/cmdline").read_bytes())
        os.kill(supervisor, signal.SIGKILL)  # the supervisor alone dies: web and worker live on

        second = Product(data, ADMIN_PASSWORD)
        try:
            assert second.proc.wait(60) != 0
            assert "dockhand is already running on" in second.log(), second.log()
        finally:
            second.kill()
        # The old worker's deploy was not taken for an orphan: it ends well, on its own.
        done = wait_until(
            "the live deploy ends",
            lambda: (d := client.get(f"/api/deployments/{deployment}").json())["status"] != "running" and d,
            60,
        )
        assert done["status"] == "success", done
        assert _app_running(project)
    finally:
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        first.kill()
        if project:
            dockersupport.remove_project(project)
