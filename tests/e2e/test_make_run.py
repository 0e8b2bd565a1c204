"""`make run` for real: Daphne + the django-q2 cluster, driven over HTTP like a user would."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from stacks.services.lock import BUSY_MESSAGE
from tests.conftest import GIT_TOKEN, GIT_USER, SECRET_VALUE, compose_file, need, slow_compose_file, unique_stack_name
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "e2e-Admin-pass-4821"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("product") / "data", ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def client(product: Product) -> ApiClient:
    product.wait_healthy(60)
    return ApiClient(product.url, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def stack(client: ApiClient, git_server: Any) -> Iterator[dict[str, Any]]:
    repo = git_server.create_repo(
        f"e2e-{unique_stack_name()}", {"compose.yaml": compose_file("1"), ".env": "SECRET=from-repo\n"}
    )
    cred = client.post(
        "/api/git/credentials",
        {
            "name": "e2e",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    )
    assert cred.status_code == 201, cred.text
    created = client.post(
        "/api/git/stacks",
        {
            "stackName": unique_stack_name(),
            "url": repo.url,
            "credentialId": cred.json()["id"],
            "envFilePath": ".env",
            "envVars": [{"key": "SECRET", "value": SECRET_VALUE, "isSecret": True}, {"key": "PLAIN", "value": "p1"}],
        },
    )
    assert created.status_code == 201, created.text
    body = dict(created.json())
    body["repo"] = repo
    yield body
    dockersupport.remove_project(body["projectName"])


def test_make_run_serves_a_healthy_api_within_60_seconds(product: Product) -> None:
    started = time.monotonic()
    health = product.wait_healthy(60)  # asked by nobody: words only
    assert health == {
        "details": "healthy",
        "database": "ok",
        "disk": "ok",
        "worker": "ok",
        "work": "ok",
        "docker": "ok",
    }
    assert time.monotonic() - started < 60
    owner = ApiClient(product.url, "admin", ADMIN_PASSWORD).get("/api/health").json()
    assert owner["engines"]["local"].startswith("Docker ")
    assert "dockhand is running" in product.log()


def test_the_sync_runs_in_the_worker_and_deploys(client: ApiClient, product: Product, stack: dict[str, Any]) -> None:
    queued = client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false")
    assert queued.status_code == 202
    assert queued.json()["status"] == "queued"
    deployment_id = queued.json()["deploymentId"]
    deadline = time.monotonic() + 60
    while (detail := client.get(f"/api/deployments/{deployment_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, detail
        time.sleep(0.3)
    assert detail["status"] == "success", detail
    assert detail["trigger"] == "api" and detail["deployed"] is True
    env = dockersupport.container_env(f"{stack['projectName']}-app-1")
    assert env["SECRET"] == SECRET_VALUE and env["PLAIN"] == "p1"
    # The django-q2 cluster (another process) ran it, not the web request.
    db = sqlite3.connect(product.data_dir / "dockhand.sqlite3")
    ran = db.execute("SELECT success FROM django_q_task WHERE name = ?", (f"deployment-{deployment_id}",)).fetchall()
    assert ran == [(1,)]
    again = client.post(f"/api/git/stacks/{stack['id']}/sync")
    assert again.status_code == 200
    assert again.json()["deployed"] is False
    assert SECRET_VALUE not in again.text + client.get(f"/api/git/stacks/{stack['id']}/deployments").text


def test_two_syncs_at_once_exactly_one_runs(client: ApiClient, stack: dict[str, Any]) -> None:
    before = client.get(f"/api/git/stacks/{stack['id']}/deployments").json()["meta"]["total"]
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def fire() -> None:
        barrier.wait()
        answers.append(client.post(f"/api/git/stacks/{stack['id']}/sync", {"force": True}))

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.json() == {"success": False, "error": BUSY_MESSAGE, "code": "stack_busy"}
    after = client.get(f"/api/git/stacks/{stack['id']}/deployments").json()["meta"]["total"]
    assert after == before + 1


def test_webhooks_during_a_slow_deploy_make_exactly_one_follow_up(
    client: ApiClient, git_server: Any, docker_image: str
) -> None:
    repo = git_server.create_repo(f"slow-{unique_stack_name()}", {"compose.yaml": slow_compose_file("1")})
    created = client.post(
        "/api/git/stacks?check=false",
        {"stackName": unique_stack_name(), "url": repo.url, "credentialId": None, "webhookEnabled": True},
    )
    assert created.status_code == 201, created.text
    stack = created.json()
    # The test git server wants basic auth: attach the e2e credential.
    cred_id = next(c["id"] for c in client.get("/api/git/credentials").json() if c["name"] == "e2e")
    repo_id = stack["repositoryId"]
    assert (
        client.session.put(
            f"{client.base}/api/git/repositories/{repo_id}", json={"credentialId": cred_id}, timeout=10
        ).status_code
        == 200
    )
    try:
        secret = stack["webhookSecret"]
        first = _webhook(client, stack, hooks.github_push(repo, secret, before="0" * 40, shas=[repo.head()]))
        assert first.status_code == 202, first.text
        first_id = first.json()["deploymentId"]
        _wait_for(client, first_id, lambda d: d["status"] == "running" and "Deploying" in d["output"])
        before = repo.head()
        for version in ("2", "3", "4"):
            sha = repo.commit({"compose.yaml": slow_compose_file(version)}, f"v{version}")
            answer = _webhook(client, stack, hooks.github_push(repo, secret, before=before, shas=[sha]))
            assert answer.status_code == 202 and answer.json()["coalesced"] is True, answer.text
            before = sha
        deployments = _wait_settled(client, stack["id"], count=2)
        assert [(d["trigger"], d["status"]) for d in reversed(deployments)] == [
            ("webhook", "success"),
            ("webhook", "success"),
        ]
        assert deployments[0]["commitSha"] == repo.head()
        assert dockersupport.container_env(f"{stack['projectName']}-app-1")["VERSION"] == "4"
    finally:
        dockersupport.remove_project(stack["projectName"])


def test_a_push_the_database_cannot_record_is_answered_503_and_its_retry_deploys(
    client: ApiClient, product: Product, git_server: Any, stack: dict[str, Any]
) -> None:
    del stack  # made the "e2e" credential this test's repository needs
    repo = git_server.create_repo(f"locked-{unique_stack_name()}", {"compose.yaml": compose_file("1")})
    cred_id = next(c["id"] for c in client.get("/api/git/credentials").json() if c["name"] == "e2e")
    created = client.post(
        "/api/git/stacks",
        {"stackName": unique_stack_name(), "url": repo.url, "credentialId": cred_id, "webhookEnabled": True},
    )
    assert created.status_code == 201, created.text
    locked = created.json()
    hook = hooks.github_push(repo, locked["webhookSecret"], before="0" * 40, shas=[repo.head()])
    # Another program holds the database's write lock past dockhand's busy timeout (20 s).
    holder = sqlite3.connect(product.data_dir / "dockhand.sqlite3", timeout=5, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        refused = _webhook(client, locked, hook)
        assert refused.status_code == 503, refused.text
        health = client.get("/api/health")  # and health says why, at once (to a signed-in owner)
        assert health.status_code == 503 and health.json()["database"].startswith("cannot be written: "), health.text
        assert refused.headers["Retry-After"] == "30"
        assert refused.json()["error"].startswith("The database cannot be written right now")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        # The provider sends the same delivery again: it was never recorded, so it deploys.
        retried = _webhook(client, locked, hook)
        assert retried.status_code == 202, retried.text
        done = _wait_for(client, retried.json()["deploymentId"], lambda d: d["status"] in ("success", "failed"))
        assert done["status"] == "success", done
    finally:
        dockersupport.remove_project(locked["projectName"])


def test_cancel_stops_a_hanging_deploy_within_the_grace_period(
    client: ApiClient, product: Product, stack: dict[str, Any], git_server: Any
) -> None:
    repo = git_server.create_repo(f"hang-{unique_stack_name()}", {"compose.yaml": slow_compose_file("1", seconds=300)})
    cred_id = next(c["id"] for c in client.get("/api/git/credentials").json() if c["name"] == "e2e")
    hanging = client.post(
        "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": cred_id}
    )
    assert hanging.status_code == 201, hanging.text
    target = hanging.json()
    try:
        started = client.post(f"/api/git/stacks/{target['id']}/sync?wait=false").json()["deploymentId"]
        _wait_for(client, started, lambda d: d["status"] == "running" and "Container" in d["output"])
        asked = time.monotonic()
        cancelled = client.post(f"/api/deployments/{started}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert time.monotonic() - asked < 10 + 5  # DOCKHAND_CANCEL_GRACE, and then some
        body = cancelled.json()
        assert body["status"] == "cancelled" and body["error"] == "Cancelled by user:admin"
        assert body["output"].rstrip().endswith("Cancelled by user:admin")
        # No compose process of it is left, and the lock is free: the next sync runs.
        leftover = subprocess.run(["pgrep", "-f", target["projectName"]], capture_output=True, text=True)
        assert leftover.stdout.strip() == "", leftover.stdout
        assert not list((product.data_dir / "run" / "compose-pids").glob("*.pid"))
        again = client.post(f"/api/deployments/{started}/cancel")
        assert again.status_code == 409
        repo.commit({"compose.yaml": compose_file("2")}, "no more hanging")
        assert client.post(f"/api/git/stacks/{target['id']}/sync").json()["deployed"] is True
    finally:
        dockersupport.remove_project(target["projectName"])


def test_the_auto_sync_clock_runs_under_make_run(
    product: Product, client: ApiClient, stack: dict[str, Any], git_server: Any, docker_image: str
) -> None:
    """The clock lives in the worker process `serve` starts, not in a web process (its
    minute of checks would delay the pages, benchmark #10): a stack due every minute is
    checked at the next minute without anyone asking, and the minute after, unchanged,
    it is recorded `skipped` by the clock's own process."""
    repo = git_server.create_repo(f"clock-{unique_stack_name()}", {"compose.yaml": compose_file("1")})
    cred = next(c["id"] for c in client.get("/api/git/credentials").json() if c["name"] == "e2e")
    created = client.post(
        "/api/git/stacks",
        {"stackName": unique_stack_name(), "url": repo.url, "credentialId": cred, "autoUpdate": True,
         "autoUpdateCron": "* * * * *"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    clocked = created.json()
    try:
        deadline = time.monotonic() + 90
        while not (runs := client.get(f"/api/git/stacks/{clocked['id']}/deployments").json()["data"]):
            assert time.monotonic() < deadline, "the clock did not check the stack within 90 s"
            time.sleep(1)
        assert runs[-1]["trigger"] == "schedule"
        # Its deploy finishes before the project is removed, or it would start the
        # container again after the removal and leave it (and its network) behind.
        _wait_settled(client, clocked["id"], count=1)
        runs = _wait_settled(client, clocked["id"], count=2, timeout=90)
        skipped = [r["id"] for r in runs if r["status"] == "skipped" and r["trigger"] == "schedule"]
        assert skipped, runs
        with sqlite3.connect(product.data_dir / "dockhand.sqlite3") as db:
            (worker,) = db.execute("SELECT worker FROM stacks_deployment WHERE id = ?", (skipped[0],)).fetchone()
        clock_process = Path(f"/proc/{worker.rsplit(':', 1)[1]}/cmdline").read_bytes().split(b"\0")
        assert b"qcluster" in clock_process and b"daphne" not in clock_process, clock_process
    finally:
        dockersupport.remove_project(clocked["projectName"])


def _webhook(client: ApiClient, stack: dict[str, Any], hook: hooks.Hook) -> Any:
    return requests.post(
        f"{client.base}/api/git/stacks/{stack['id']}/webhook", data=hook.body, headers=hook.headers, timeout=30
    )


def _wait_for(client: ApiClient, deployment_id: int, ready: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not ready(detail := client.get(f"/api/deployments/{deployment_id}").json()):
        assert time.monotonic() < deadline, detail
        time.sleep(0.1)
    return dict(detail)


def _wait_settled(client: ApiClient, stack_id: int, *, count: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        data = client.get(f"/api/git/stacks/{stack_id}/deployments").json()["data"]
        if len(data) >= count and all(d["status"] not in ("queued", "running") for d in data):
            time.sleep(1)  # a further (wrong) follow-up would show up now
            final = client.get(f"/api/git/stacks/{stack_id}/deployments").json()["data"]
            if final == data:
                return list(data)
        assert time.monotonic() < deadline, data
        time.sleep(0.2)


def test_ctrl_c_stops_the_web_server_and_the_worker(product: Product, client: ApiClient) -> None:
    product.interrupt()
    deadline = time.monotonic() + 15
    while product.group_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not product.group_alive(), product.log()
