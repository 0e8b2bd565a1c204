"""Faults leave nothing stuck and nothing lost: the running containers stay as they
were, the lock is released, and the next sync works."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from dockhand.node import start_time
from stacks.models import Deployment, Environment, GitStack
from stacks.services.recovery import recover_after_restart
from tests.conftest import compose_file, container_name, need, slow_compose_file
from tests.support import docker as dockersupport
from tests.support.engineproxy import EngineProxy
from tests.support.gitserver import git

pytestmark = pytest.mark.django_db


def _sync(api: Any, stack: dict[str, Any]) -> Any:
    return api.post(f"/api/git/stacks/{stack['id']}/sync", {"force": True}, format="json")


def test_a_killed_worker_is_recovered_on_start(api: Any, app_repo: Any, make_stack: Any, docker_image: str) -> None:
    stack = make_stack(app_repo)
    # What a worker killed mid-compose leaves: a running deployment holding the lock (its
    # lease ran out), a compose process group still alive, a per-run key dir, an env file.
    deployment = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    deployment.start()
    GitStack.objects.filter(pk=stack["id"]).update(
        lock_owner=deployment.pk, lock_expires=timezone.now() - timedelta(seconds=5), sync_status="syncing"
    )
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    pids = Path(settings.RUN_DIR) / "compose-pids"
    pids.mkdir(parents=True, exist_ok=True)
    (pids / f"{orphan.pid}.pid").write_text(f"{orphan.pid} {start_time(orphan.pid)}")
    keydir = Path(settings.RUN_DIR) / "git-leftover"
    keydir.mkdir()
    (keydir / "id").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nleft behind\n")
    (Path(settings.RUN_DIR) / f"deployment-{deployment.pk}.env").write_text("A='1'\n")
    # A run's registry logins, and its generated compose file of decrypted variables.
    logins = Path(settings.RUN_DIR) / "docker-config-leftover"
    logins.mkdir()
    (logins / "config.json").write_text('{"auths": {"127.0.0.1:5000": {"auth": "dTpw"}}}')
    (Path(settings.RUN_DIR) / "run-1.sops-services.yaml").write_text('services:\n  "app":\n    environment: {}\n')

    summary = recover_after_restart()

    assert summary == {"killed": 1, "removed": 4, "interrupted": 1, "requeued": 0, "rerun": 1}
    assert orphan.wait(timeout=5) != 0  # killed
    assert not keydir.exists() and not logins.exists()
    assert not list(Path(settings.RUN_DIR).glob("*.env")) and not list(Path(settings.RUN_DIR).glob("*.yaml"))
    deployment.refresh_from_db()
    assert deployment.status == "interrupted" and "worker" in deployment.error
    # It ran again (trigger recovery): the stack runs what it was deploying.
    rerun = Deployment.objects.get(retry_of=deployment)
    assert (rerun.trigger, rerun.status) == ("recovery", "success")
    row = GitStack.objects.get(pk=stack["id"])
    assert row.lock_owner is None and row.sync_status == "success"


def _hold(stack: dict[str, Any], deployment: Deployment, **fields: Any) -> None:
    GitStack.objects.filter(pk=stack["id"]).update(
        lock_owner=deployment.pk, lock_expires=timezone.now() + timedelta(minutes=2), **fields
    )


def test_a_running_deploy_of_another_node_is_left_alone_within_its_lease(
    api: Any, app_repo: Any, make_stack: Any
) -> None:
    stack = make_stack(app_repo)
    deployment = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    deployment.start(worker="other-node:4242")
    _hold(stack, deployment)
    assert recover_after_restart()["interrupted"] == 0
    assert GitStack.objects.get(pk=stack["id"]).lock_owner == deployment.pk
    assert Deployment.objects.get(pk=deployment.pk).status == "running"


def test_this_nodes_dead_deploy_is_interrupted_at_once_and_its_follow_up_still_runs(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    deployment = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    deployment.start(worker=f"{settings.NODE_NAME}:999999")
    _hold(stack, deployment, sync_pending=True, pending_trigger="webhook")  # a push arrived mid-deploy

    assert recover_after_restart()["interrupted"] == 1

    assert Deployment.objects.get(pk=deployment.pk).status == "interrupted"
    follow_up = Deployment.objects.filter(stack_id=stack["id"]).exclude(pk=deployment.pk).get()
    assert follow_up.trigger == "webhook" and follow_up.status == "success" and follow_up.deployed
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None


def test_a_queued_deploy_whose_task_died_is_handed_over_again_and_runs_once(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    from stacks.tasks import run_deployment

    stack = make_stack(app_repo)
    queued = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    _hold(stack, queued, sync_status="queued")  # its task was in the old worker's hands

    assert recover_after_restart()["requeued"] == 1

    queued.refresh_from_db()
    assert queued.status == "success" and queued.deployed
    assert run_deployment(queued.pk) == "success"  # the original task, delivered late: runs nothing
    assert queued.output_text().count("Deploying ") == 1


def test_a_branch_deleted_upstream_flags_the_stack_and_leaves_it_running(
    api: Any, admin: Any, app_repo: Any, make_stack: Any, git_server: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    before = dockersupport.inspect(container_name(stack))["Id"]
    bare = git_server.root / Path(app_repo.url).name
    head = app_repo.head()
    git("update-ref", "-d", "refs/heads/main", cwd=bare)
    response = _sync(api, stack)
    assert response.status_code == 500
    assert response.json()["error"] == f"Branch 'main' does not exist in {app_repo.url}"
    assert dockersupport.inspect(container_name(stack))["Id"] == before
    shown = api.get(f"/api/git/stacks/{stack['id']}").json()
    assert shown["syncStatus"] == "failed" and "does not exist" in shown["syncError"] and shown["lastCommit"] == head
    assert shown["branchMissing"] is True
    page = Client()
    page.force_login(admin)
    assert 'id="branch-missing"' in page.get(f"/stacks/{stack['id']}/").content.decode()
    git("update-ref", "refs/heads/main", head, cwd=bare)
    assert _sync(api, stack).json()["success"] is True
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["branchMissing"] is False


def test_a_stalled_git_server_is_cut_off_by_the_timeout(
    api: Any, make_stack: Any, app_repo: Any, settings: Any
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(listener.accept()[0]) for _ in range(4)], daemon=True).start()
    app_repo.url = f"http://127.0.0.1:{listener.getsockname()[1]}/stalled.git"
    # (the test credential is scoped to the real git server; the create-time check would
    # wait on the stalled server too)
    stack = make_stack(app_repo, credentialId=None, skipSourceCheck=True)
    settings.GIT_TIMEOUT = 3
    started = time.monotonic()
    response = _sync(api, stack)
    elapsed = time.monotonic() - started
    assert response.status_code == 502 and response.json()["success"] is False
    assert response.json()["error"] == "Failed to pull from repository: the remote did not answer in 3 s"
    assert elapsed < 20, f"the stalled fetch took {elapsed:.0f} s"
    assert accepted, "git did connect to the stalled server"
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None
    for conn in accepted:
        conn.close()
    listener.close()


def test_an_unreachable_docker_engine_fails_clearly(api: Any, app_repo: Any, make_stack: Any, tmp_path: Path) -> None:
    edge = Environment.objects.create(name="gone", docker_host=f"unix://{tmp_path}/no-such-docker.sock")
    stack = make_stack(app_repo, environmentId=edge.pk)
    response = _sync(api, stack)
    assert response.status_code == 500
    assert "docker" in response.json()["error"].lower() and "no-such-docker.sock" in response.json()["error"]
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None
    assert os.path.exists(tmp_path)


def test_an_engine_dying_mid_deploy_fails_the_sync_and_the_next_one_works(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, tmp_path: Path, compose_calls: list[str]
) -> None:
    proxy = EngineProxy(tmp_path / "engine.sock").start()
    edge = Environment.objects.create(name="flaky", docker_host=proxy.url)
    stack = make_stack(app_repo, environmentId=edge.pk)
    assert _sync(api, stack).json()["deployed"] is True
    app_repo.commit({"compose.yaml": slow_compose_file("2", seconds=20)}, "slow migration")

    def cut_when_migrating() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(
                "migrate" in c["Names"] and c["State"] == "running"
                for c in dockersupport.containers(stack["projectName"])
            ):
                proxy.cut()  # mid-deploy: compose is waiting on the migration
                return
            time.sleep(0.2)

    cutter = threading.Thread(target=cut_when_migrating)
    cutter.start()
    compose_calls.clear()
    response = _sync(api, stack)
    cutter.join()
    assert response.status_code == 500, response.content
    assert response.json()["error"].startswith("docker compose failed"), response.json()["error"]
    # Whatever compose did before the engine went stays as it is: dockhand runs no
    # `down` or anything else after a failure, and the stack is not left locked.
    assert [c.split(" up ")[-1] if " up " in c else c for c in compose_calls] == ["config", "--detach --remove-orphans"]
    assert GitStack.objects.get(pk=stack["id"]).lock_owner is None

    proxy.start()  # the engine is back
    app_repo.commit({"compose.yaml": compose_file("3")}, "no migration")
    assert _sync(api, stack).json()["deployed"] is True
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "3"


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 128 KiB tmpfs (a real filesystem that really fills up), unmounted afterwards."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", str(mount)], check=False)
    need("mounting a tmpfs (root)", mounted.returncode == 0)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path, size: int | None = None) -> None:
    """Write zeros until `size` bytes, or until the disk is full."""
    with open(path, "wb", buffering=0) as fh:
        written = 0
        while size is None or written < size:
            try:
                written += fh.write(b"\0" * 4096)
            except OSError:
                return


def test_a_full_disk_fails_the_sync_clearly_and_leaves_the_stack_running(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, small_disk: Path, settings: Any
) -> None:
    # A 60 KB override: the generated env file needs more room than a nearly full disk has.
    big = {"key": "BIG", "value": "x" * 60_000, "isSecret": False}
    stack = make_stack(app_repo, envVars=[big])
    assert _sync(api, stack).json()["deployed"] is True
    before = app_repo.head()
    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    settings.RUN_DIR = small_disk
    _fill(small_disk / "filler", 96 * 1024)  # room for git's askpass, not for the env file

    response = _sync(api, stack)
    assert response.status_code == 500
    assert response.json()["error"] == "Could not write the environment file for compose: No space left on device"
    # No partial file left (the folders compose runs use may stay).
    assert sorted(p.name for p in small_disk.iterdir() if not p.is_dir()) == ["filler"]
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"  # untouched
    row = GitStack.objects.get(pk=stack["id"])
    assert row.lock_owner is None and row.last_commit == before

    _fill(small_disk / "filler-2")  # now not even git's temporary files fit
    response = _sync(api, stack)
    assert response.status_code == 500
    assert response.json()["error"] == "Could not prepare git's temporary files: No space left on device"
    assert sorted(p.name for p in small_disk.iterdir() if not p.is_dir()) == ["filler", "filler-2"]

    for filler in small_disk.iterdir():
        if not filler.is_dir():
            filler.unlink()
    assert _sync(api, stack).json()["deployed"] is True  # space again: the next sync works
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "2"
