"""A container's log, usage and restart reach every kind of engine the same way: a
second dockerd over tcp with mutual TLS, and the same engine over an ssh tunnel (its
key and host key from a credential). The follow's stop closes a TLS connection and a
tunnel as it closes a socket."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from dockhand.masking import MASK
from stacks.engine import LogLine
from stacks.models import GitStack
from stacks.services.containers import container_log_follow
from tests.conftest import container_name, need
from tests.support import docker as dockersupport
from tests.support import second_engine, sshserver
from tests.support.second_engine import SecondEngine

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def engine_two(docker_image: str) -> Iterator[SecondEngine]:
    need("a second dockerd (root, dockerd, ip)", second_engine.available())
    started = SecondEngine()
    yield started
    started.stop()


@pytest.fixture
def sshd(tmp_path: Any) -> Iterator[sshserver.SshServer]:
    need("openssh-server", sshserver.available())
    server = sshserver.SshServer(tmp_path)
    yield server
    server.stop()


def _environment(api: APIClient, name: str, host: str, **more: Any) -> dict[str, Any]:
    created = api.post("/api/environments", {"name": name, "dockerHost": host, **more}, format="json")
    assert created.status_code == 201, created.content
    return dict(created.json())


def _follow_one_new_line(stack: dict[str, Any], name: str, engine_two: SecondEngine) -> None:
    """Follow the log from its last line, see a new one arrive, stop: the reading ends."""
    _, follow = container_log_follow(stack=GitStack.objects.get(pk=stack["id"]), ref=name, tail=1)
    seen: list[LogLine] = []
    reader = threading.Thread(target=lambda: seen.extend(follow), daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [line.text for line in seen] == ["ready"]
    dockersupport.print_line(name, "a line printed now", docker_host=engine_two.socket)
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [line.text for line in seen] == ["ready", "a line printed now"]
    follow.stop()
    reader.join(10)
    assert not reader.is_alive(), "stop() left the reading hanging"


def test_logs_usage_and_actions_reach_an_engine_over_tls_and_over_ssh(
    api: APIClient, git_server: Any, make_stack: Any, engine_two: SecondEngine, sshd: sshserver.SshServer, tmp_path: Any
) -> None:
    private, public = sshserver.keygen(tmp_path / "engine-key")
    sshd.authorize(public)
    credential = api.post(
        "/api/git/credentials",
        {
            "name": "engine-ssh",
            "authType": "ssh",
            "sshPrivateKey": private,
            "sshKnownHosts": sshd.host_key_line,
            "urlPrefixes": [f"ssh://{sshd.user}@127.0.0.1:{sshd.port}/"],
        },
        format="json",
    ).json()
    environments = [
        _environment(
            api,
            "two-tls",
            engine_two.tcp,
            tlsCa=engine_two.ca,
            tlsCert=engine_two.client.cert,
            tlsKey=engine_two.client.key,
        ),
        _environment(
            api,
            "two-ssh",
            f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{engine_two.dir}/docker.sock",
            sshCredentialId=credential["id"],
        ),
    ]
    repo = git_server.create_repo(f"chatty-{uuid.uuid4().hex[:8]}", {"compose.yaml": dockersupport.chatty_compose()})
    try:
        for environment in environments:
            stack = make_stack(repo, envFilePath="", environmentId=environment["id"])
            synced = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
            assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.content
            name = container_name(stack)
            assert engine_two.running(name) and not dockersupport.containers(stack["projectName"])

            logs = api.get(f"/api/git/stacks/{stack['id']}/containers/{name}/logs")
            assert logs.status_code == 200 and logs.content.decode() == f"booting with {MASK}\nready\n", environment
            measured = api.get(f"/api/git/stacks/{stack['id']}/containers", {"stats": "true"}).json()
            assert measured[0]["memoryBytes"] > 0 and isinstance(measured[0]["cpuPercent"], float), environment
            assert measured[0]["startedAt"] is not None

            _follow_one_new_line(stack, name, engine_two)

            before = engine_two.docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout
            restarted = api.post(f"/api/git/stacks/{stack['id']}/containers/{name}/restart")
            assert restarted.status_code == 200 and restarted.json()["container"]["state"] == "running"
            assert engine_two.docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout != before
    finally:
        leftovers = engine_two.docker("ps", "-aq").stdout.split()
        if leftovers:
            engine_two.docker("rm", "-f", *leftovers)
