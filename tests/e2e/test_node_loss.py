"""A node lost in scale-out (Step 10, item 4), for real: PostgreSQL, Redis, two nodes.
The node that dies holds a running deploy and a queued one; with nobody acting, the
other node takes both back after their lease: the queued one runs, the running one ends
`interrupted` and runs again (trigger `recovery`). The surviving node is a `qcluster`
run alone, so this also shows that it runs the reaper without any web process.

And a `qcluster` run alone is a node of its own: at start it ends its previous run's dead
deploy at once and runs it again, and a second one on the same data directory is
refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, slow_compose_file, unique_stack_name
from tests.support import docker as dockersupport
from tests.support.nodes import two_nodes
from tests.support.product import ROOT, ApiClient, _descendants, wait_until

ADMIN_PASSWORD = "node-loss-Admin-pass-4410"
# Short leases (renewed every 2.5 s, reaped on 5 s ticks), one worker per node.
FAST = {"DOCKHAND_LOCK_LEASE": "10", "DOCKHAND_WORKERS": "1"}


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _runs(database_url: str, stack_id: int) -> list[tuple[Any, ...]]:
    """(trigger, status, worker node, retry_of) of a stack's deployments, oldest first."""
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT trigger, status, split_part(worker, ':', 1), retry_of_id, id FROM stacks_deployment"
            " WHERE stack_id = %s ORDER BY id",
            (stack_id,),
        )
        return list(rows)


def _settled(database_url: str, stack_id: int) -> list[tuple[Any, ...]] | None:
    runs = _runs(database_url, stack_id)
    return runs if runs and all(r[1] not in ("queued", "running") for r in runs) else None


def test_a_dead_node_s_running_and_queued_work_is_done_by_the_live_one(
    tmp_path: Path, git_server: Any, docker_image: str
) -> None:
    projects: list[str] = []
    with two_nodes(tmp_path, ADMIN_PASSWORD, FAST) as nodes:
        product, database_url = nodes.product, nodes.shared["DATABASE_URL"]
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
        stacks = []
        for files in ({"compose.yaml": slow_compose_file(seconds=20)}, {"compose.yaml": compose_file("1")}):
            repo = git_server.create_repo(f"loss-{unique_stack_name()}", files)
            created = client.post(
                "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential}
            ).json()
            stacks.append(created)
            projects.append(created["projectName"])
        slow, quick = stacks
        node_b = [nodes.worker.pid, *_descendants(nodes.worker.pid)]
        try:
            # node-b sleeps while node-a takes the work (its pusher's blocking pop ends
            # within a second, so nothing is handed to the sleeper).
            _signal(node_b, signal.SIGSTOP)
            time.sleep(2)
            running = client.post(f"/api/git/stacks/{slow['id']}/sync?wait=false").json()["deploymentId"]
            wait_until(
                "node-a runs compose",
                lambda: "migrate" in client.get(f"/api/deployments/{running}").json()["output"],
                60,
            )
            queued = client.post(f"/api/git/stacks/{quick['id']}/sync?wait=false").json()["deploymentId"]
            time.sleep(1)  # node-a's pusher takes it: it dies with node-a
            assert client.get(f"/api/deployments/{queued}").json()["status"] == "queued"
        finally:
            product.power_cut()  # node-a: web, clock, worker and compose, all gone
            _signal(node_b, signal.SIGCONT)

        try:
            # Nobody acts from here on, and no web process runs: node-b's own clock does it.
            for stack in (slow, quick):
                wait_until(f"stack {stack['id']} settles", lambda s=stack: _settled(database_url, s["id"]), 120)
            first, again = _runs(database_url, slow["id"])
            assert (first[0], first[1], first[2]) == ("api", "interrupted", "node-a")
            assert (again[0], again[1], again[2], again[3]) == ("recovery", "success", "node-b", running)
            ((trigger, status, node, _, deployment_id),) = _runs(database_url, quick["id"])
            assert (trigger, status, node, deployment_id) == ("api", "success", "node-b", queued)
            for project in projects:
                assert dockersupport.container_env(f"{project}-app-1")["VERSION"] == "1"
        finally:
            for project in projects:
                dockersupport.remove_project(project)


def test_a_lone_qcluster_recovers_its_own_dead_deploy_at_start_and_holds_its_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "node"
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DOCKHAND_TASKS_INLINE")}
    # A lease of ten minutes: only start-up recovery, not the reaper, can end it in time.
    env.update(DOCKHAND_DATA_DIR=str(data), DOCKHAND_NODE_NAME="lone", DOCKHAND_LOCK_LEASE="600")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    # The previous run of this node died mid-deploy: its deployment still reads running.
    made = subprocess.run(
        [*manage, "shell", "-c", _DEAD_DEPLOY], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    stack_id, dead_id = map(int, made.stdout.split()[-2:])  # (after the shell's own words)

    def _started() -> subprocess.Popen[bytes]:
        with open(tmp_path / "qcluster.log", "ab") as log:
            return subprocess.Popen([*manage, "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    lone = _started()
    try:
        check = [*manage, "shell", "-c", _STATUS.format(stack=stack_id)]

        def _done() -> str | None:
            out = (
                subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            )
            ended = (" recovery:failed:", " recovery:success:")
            return out if out.startswith("interrupted ") and any(e in out for e in ended) else None

        seen = wait_until("the dead deploy ends and runs again", _done, 60)
        # It ran again (and failed: its repository does not exist); the dead one was ended.
        assert seen.split()[0] == "interrupted" and f"retry_of={dead_id}" in seen, seen
        second = _started()
        assert second.wait(60) != 0  # one node per data directory
        assert "dockhand is already running on" in (tmp_path / "qcluster.log").read_text()
    finally:
        lone.terminate()
        lone.wait(60)


_DEAD_DEPLOY = """
from gitsync.models import Repository
from stacks.models import Deployment, Environment, GitStack
from stacks.services.lock import lock_lease
from django.utils import timezone
repository = Repository.objects.create(url="http://127.0.0.1:9/gone.git")
stack = GitStack.objects.create(
    name="dead", project_name="dead-on-lone", repository=repository, environment=Environment.objects.first()
)
dead = Deployment.objects.create(stack=stack, trigger="api")
dead.start(worker="lone:4242")
GitStack.objects.filter(pk=stack.pk).update(
    lock_owner=dead.pk, lock_expires=timezone.now() + lock_lease(), sync_status="syncing"
)
print(stack.pk, dead.pk)
"""

_STATUS = """
from stacks.models import Deployment
print(" ".join(
    f"{{d.status}}" if d.retry_of_id is None else f"{{d.trigger}}:{{d.status}}:retry_of={{d.retry_of_id}}"
    for d in Deployment.objects.filter(stack_id={stack}).order_by("id")
))
"""
