"""A secret interpolated into what the engine reports back: `container_name: c-${SECRET}`,
an image tag, labels, and a published port from a secret override. The engine answers
with them unmasked in every list of containers, and compose names the containers in
every line it prints; neither the API nor a page, for a viewer or an admin, may show
them. Nor an engine error that quotes them."""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dockhand.masking import MASK
from stacks import engine
from stacks.models import Deployment
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db

COMPOSE = """\
services:
  app:
    image: dockhand-test/busybox:${{SECRET}}
    pull_policy: never
    container_name: c-${{SECRET}}
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    labels:
      team.owner: "label-${{SECRET}}"
      published.port: "${{HOSTPORT}}"
    ports:
      - "${{HOSTPORT}}:80"
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def secret(docker_image: str) -> Iterator[str]:
    """A secret unique to this run (a container name is the engine's, not the test's),
    and the test image tagged with it."""
    value = f"Sec-{uuid.uuid4().hex[:10]}-Val"
    tagged = f"dockhand-test/busybox:{value}"
    subprocess.run(["docker", "tag", docker_image, tagged], check=True, capture_output=True)
    yield value
    subprocess.run(["docker", "image", "rm", "--no-prune", tagged], capture_output=True)


@pytest.fixture
def leaky(api: APIClient, git_server: Any, make_stack: Any, secret: str) -> dict[str, Any]:
    """A stack deployed with both secrets in its container's name, image, labels, ports."""
    port = str(_free_port())
    repo = git_server.create_repo(f"leaky-{uuid.uuid4().hex[:8]}", {"compose.yaml": COMPOSE.format()})
    stack = make_stack(
        repo,
        envFilePath="",
        envVars=[
            {"key": "SECRET", "value": secret, "isSecret": True},
            {"key": "HOSTPORT", "value": port, "isSecret": True},
        ],
    )
    synced = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.content
    return {**stack, "secret": secret, "port": port}


def _as(user: Any) -> tuple[APIClient, Client]:
    api, page = APIClient(), Client()
    api.force_login(user)
    page.force_login(user)
    return api, page


def _containers_table(html: str) -> str:
    start = html.index('id="containers"')
    return html[start : html.index("</table>", start)]


def test_the_engines_answers_about_a_stack_show_its_secrets_masked(
    leaky: dict[str, Any], viewer: Any, env_admin: Any, admin: Any
) -> None:
    secret, port = leaky["secret"], leaky["port"]
    raw = engine.project_containers(engine.Endpoint(), leaky["projectName"])
    # What the engine itself says: the secrets are there to leak.
    assert [c.name for c in raw] == [f"c-{secret}"] and raw[0].image == f"dockhand-test/busybox:{secret}"
    assert raw[0].ports and all(f":{port}->80/tcp" in p for p in raw[0].ports)
    labels = dockersupport.inspect(f"c-{secret}")["Config"]["Labels"]  # type: ignore[index]
    assert labels["team.owner"] == f"label-{secret}" and labels["published.port"] == port

    expected = [
        {
            "id": raw[0].id,  # a digest of the engine's: never masked, the pages link by it
            "name": f"c-{MASK}",
            "service": "app",
            "image": f"dockhand-test/busybox:{MASK}",
            "state": "running",
            "health": None,
            "ports": [p.replace(port, MASK) for p in raw[0].ports],
        }
    ]
    for user in (viewer, env_admin, admin):
        api, page = _as(user)
        answers = [api.get(f"/api/git/stacks/{leaky['id']}/containers")]
        listed = answers[0].json()
        statuses = [row.pop("status") for row in listed]  # "Up 3 seconds": it moves on
        assert all(said.startswith("Up ") for said in statuses), statuses
        assert listed == expected, user.username
        answers += [
            api.get(f"/api/git/stacks/{leaky['id']}"),
            api.get("/api/git/stacks"),
            api.get(f"/api/git/stacks/{leaky['id']}/status"),
            api.get(f"/api/git/stacks/{leaky['id']}/deployments"),
            api.get(f"/api/deployments/{Deployment.objects.get().pk}"),
            api.get("/api/audit"),
        ]
        shown = page.get(f"/stacks/{leaky['id']}/").content.decode()
        table = _containers_table(shown)
        assert f"c-{MASK}" in table and f"dockhand-test/busybox:{MASK}" in table and f":{MASK}-&gt;80/tcp" in table
        assert port not in table, user.username
        pages = [
            shown,
            page.get("/stacks/").content.decode(),
            page.get(f"/deployments/{Deployment.objects.get().pk}/").content.decode(),
        ]
        for text in [a.content.decode() for a in answers] + pages:
            assert secret not in text, user.username
        assert f"team.owner: label-{MASK}" in shown  # the labels, in the compose model it ran


def test_stack_operations_show_compose_lines_and_errors_masked(
    leaky: dict[str, Any], env_admin: Any, projects: list[str]
) -> None:
    secret, port = leaky["secret"], leaky["port"]
    api, page = _as(env_admin)
    stopped = api.post(f"/api/git/stacks/{leaky['id']}/stop")
    assert stopped.status_code == 200, stopped.content
    body = stopped.json()
    assert body["output"] == f" Container c-{MASK}  Stopping\n Container c-{MASK}  Stopped"
    assert body == {"success": True, "output": body["output"], "stoppedByUser": True}

    # Another container takes the published port: starting fails, and the engine's
    # error names the container (and the port) of the stack.
    blocker = f"blocker-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["docker", "run", "-d", "--name", blocker, "-p", f"{port}:80", dockersupport.IMAGE, "sleep", "3600"],
        check=True,
        capture_output=True,
    )
    try:
        failed = api.post(f"/api/git/stacks/{leaky['id']}/start")
        assert failed.status_code == 500, failed.content
        answer = failed.json()
        assert answer["success"] is False, answer
        assert answer["error"].startswith(f"docker compose failed (exit code 1): Container c-{MASK}  Starting / ")
        assert f"endpoint c-{MASK} (" in answer["error"]  # the daemon's own words quote the name
        assert secret not in answer["error"] and port not in answer["error"]
        refused = page.post(f"/stacks/{leaky['id']}/start/")
        assert refused.status_code == 409 and MASK in refused.content.decode()
        assert secret not in refused.content.decode() and port not in refused.content.decode()
    finally:
        subprocess.run(["docker", "rm", "-f", blocker], capture_output=True)

    deleted = api.delete(f"/api/git/stacks/{leaky['id']}")
    assert deleted.status_code == 200, deleted.content
    output = deleted.json()["output"]
    assert f"Container c-{MASK}  Remov" in output and secret not in output
    assert dockersupport.containers(leaky["projectName"]) == []


def test_an_engine_error_quoting_a_secret_is_masked(
    leaky: dict[str, Any], viewer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = leaky["secret"]

    def refuse(endpoint: engine.Endpoint, project: str) -> list[engine.ContainerInfo]:
        raise engine.EngineError(f"Cannot list containers: container c-{secret} is being removed")

    monkeypatch.setattr(engine, "project_containers", refuse)
    api, page = _as(viewer)
    answer = api.get(f"/api/git/stacks/{leaky['id']}/containers")
    assert (answer.status_code, answer.json()) == (
        502,
        {"error": f"Cannot list containers: container c-{MASK} is being removed", "code": "engine_unreachable"},
    )
    shown = page.get(f"/stacks/{leaky['id']}/").content.decode()
    assert "The Docker engine could not be asked." in shown and secret not in shown


def test_a_container_named_with_a_secret_is_reached_by_its_id_or_shown_name_only(
    leaky: dict[str, Any], viewer: Any
) -> None:
    secret = leaky["secret"]
    api, page = _as(viewer)
    listed = api.get(f"/api/git/stacks/{leaky['id']}/containers").json()
    base = f"/api/git/stacks/{leaky['id']}/containers"
    for ref in (f"c-{MASK}", listed[0]["id"][:12]):
        shown = api.get(f"{base}/{ref}/logs", {"download": "1"})
        assert shown.status_code == 200, shown.content
        assert secret not in shown["Content-Disposition"] and secret not in shown.content.decode()
    # The real name is no oracle for the secret in it: not found, and not repeated.
    guessed = api.get(f"{base}/c-{secret}/logs")
    assert guessed.status_code == 404 and secret not in guessed.content.decode()
    page_shown = page.get(f"/stacks/{leaky['id']}/containers/").content.decode()
    assert f'data-logs="{listed[0]["id"][:12]}"' in page_shown and secret not in page_shown
