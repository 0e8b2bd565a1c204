"""Environments on other Docker engines: a second dockerd started here (its own unix
socket, and tcp 127.0.0.1 with mutual TLS). A stack of the same name deploys to the
local engine and to the second one independently; `down` on one leaves the other
running. The TLS key is encrypted at rest and never shown; "test connection" says
what the engine runs, or why it cannot be reached."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import container_name, need, unique_stack_name
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


def _environment(api: Any, name: str, host: str, **tls: str) -> dict[str, Any]:
    created = api.post("/api/environments", {"name": name, "dockerHost": host, **tls}, format="json")
    assert created.status_code == 201, created.content
    return dict(created.json())


def _tls(engine: SecondEngine) -> dict[str, str]:
    return {"tlsCa": engine.ca, "tlsCert": engine.client.cert, "tlsKey": engine.client.key}


def test_test_connection_over_tls_and_the_socket(api: Any, admin: Any, engine_two: SecondEngine) -> None:
    over_tls = _environment(api, "two-tls", engine_two.tcp, **_tls(engine_two))
    assert over_tls["tls"] is True and engine_two.client.key not in str(over_tls)
    tested = api.post(f"/api/environments/{over_tls['id']}/test").json()
    assert tested["reachable"] is True and tested["engine"].startswith("Docker 20.") and tested["error"] is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT tls_key FROM stacks_environment WHERE id = %s", [over_tls["id"]])
        stored = cursor.fetchone()[0]
    assert stored.startswith("enc1:") and "PRIVATE KEY" not in stored  # encrypted at rest

    by_socket = _environment(api, "two-socket", engine_two.socket)
    assert api.post(f"/api/environments/{by_socket['id']}/test").json()["reachable"] is True

    # A client certificate the engine's CA did not sign, and no certificate at all: refused.
    wrong = _environment(
        api,
        "two-stranger",
        engine_two.tcp,
        tlsCa=engine_two.ca,
        tlsCert=engine_two.stranger.cert,
        tlsKey=engine_two.stranger.key,
    )
    refused = api.post(f"/api/environments/{wrong['id']}/test").json()
    assert refused["reachable"] is False and refused["error"] and engine_two.stranger.key not in refused["error"]
    plain = _environment(api, "two-plain", engine_two.tcp)
    assert api.post(f"/api/environments/{plain['id']}/test").json()["reachable"] is False

    bad = api.post(
        "/api/environments", {"name": "x", "dockerHost": engine_two.socket, **_tls(engine_two)}, format="json"
    )
    assert bad.status_code == 400 and "dockerHost" in bad.json()["fields"]
    half = api.post(
        "/api/environments",
        {"name": "y", "dockerHost": engine_two.tcp, "tlsCert": engine_two.client.cert},
        format="json",
    )
    assert half.status_code == 400 and "tlsCa" in half.json()["fields"]

    page = Client()
    page.force_login(admin)
    shown = page.post(f"/environments/{over_tls['id']}/test/")
    assert shown.status_code == 200 and "Docker 20." in shown.content.decode()


def test_a_stack_of_the_same_name_deploys_to_each_engine_and_down_stops_one(
    api: Any, app_repo: Any, make_stack: Any, engine_two: SecondEngine
) -> None:
    remote = _environment(api, "two", engine_two.tcp, **_tls(engine_two))
    name = unique_stack_name()
    here = make_stack(app_repo, stackName=name)
    there = make_stack(app_repo, stackName=name, environmentId=remote["id"])
    assert here["projectName"] == there["projectName"] == name
    try:
        for stack in (here, there):
            answer = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
            assert answer.status_code == 200 and answer.json()["deployed"] is True, answer.content
        container = container_name(here)
        assert dockersupport.inspect(container)["State"]["Running"] is True  # type: ignore[index]
        assert engine_two.running(container)
        containers = api.get(f"/api/git/stacks/{there['id']}/containers").json()
        assert [c["name"] for c in containers] == [container]

        assert api.post(f"/api/git/stacks/{there['id']}/down").status_code == 200
        assert not engine_two.running(container) and engine_two.docker("ps", "-aq").stdout.strip() == ""
        assert dockersupport.inspect(container)["State"]["Running"] is True  # type: ignore[index]
    finally:
        engine_two.docker("rm", "-f", container_name(there))


def test_an_ssh_engine_is_reached_through_a_key_and_its_host_key(
    api: Any, app_repo: Any, make_stack: Any, engine_two: SecondEngine, tmp_path: Any
) -> None:
    need("openssh-server", sshserver.available())
    sshd = sshserver.SshServer(tmp_path)
    try:
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
        host = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{engine_two.dir}/docker.sock"
        missing = api.post("/api/environments", {"name": "no-key", "dockerHost": host}, format="json")
        assert missing.status_code == 400 and "sshCredentialId" in missing.json()["fields"]
        remote = _environment(api, "two-ssh", host, sshCredentialId=credential["id"])
        tested = api.post(f"/api/environments/{remote['id']}/test").json()
        assert tested["reachable"] is True and tested["engine"].startswith("Docker 20."), tested

        stack = make_stack(app_repo, environmentId=remote["id"])
        answer = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
        assert answer.status_code == 200 and answer.json()["deployed"] is True, answer.content
        assert engine_two.running(container_name(stack))
        assert private.strip().splitlines()[1] not in answer.content.decode()

        # A host key that is not the server's: refused, with ssh's reason.
        other = api.post(
            "/api/git/credentials",
            {
                "name": "wrong-host",
                "authType": "ssh",
                "sshPrivateKey": private,
                "sshKnownHosts": f"[127.0.0.1]:{sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBo3z1kXr2m9c6nV1mD9B5Qk1c0Xb0b0b0b0b0b0b0b0",
                "urlPrefixes": [f"ssh://127.0.0.1:{sshd.port}/"],
            },
            format="json",
        ).json()
        spoofed = _environment(api, "two-spoofed", host, sshCredentialId=other["id"])
        refused = api.post(f"/api/environments/{spoofed['id']}/test").json()
        assert refused["reachable"] is False and "over ssh" in refused["error"]
    finally:
        engine_two.docker("rm", "-f", *engine_two.docker("ps", "-aq").stdout.split())
        sshd.stop()
