"""Private images end to end, against a real registry (Debian's docker-registry with an
htpasswd login) and the real engine: a pull fails without a registry login and works
with one, each deploy records the digest the registry reports, a tag that moved makes
the stack OutOfSync and a sync runs the new image, a rollback runs the old digest, a
build is pushed; the server's own docker config is never touched, the password never
shown."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from stacks import registry as reg
from stacks.models import Deployment, GitStack
from stacks.services.images import moved_lines
from stacks.services.schedules import auto_sync_tick
from tests.conftest import container_name, need
from tests.support import registry as registry_support
from tests.support.docker_configs import files_opened, run_configs_seen
from tests.support.receiver import Receiver
from tests.support.registry import PASSWORD, USER, Registry, start_registry

pytestmark = pytest.mark.django_db

PRIVATE = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "cat /marker; exec sleep 3600"]
    stop_grace_period: 1s
"""


def _start(tls: bool = False) -> Iterator[Registry]:
    need(
        "docker-registry and htpasswd",
        subprocess.run(["which", "docker-registry", "htpasswd"], capture_output=True).returncode == 0,
    )
    server = start_registry(tls=tls)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def registry_server(docker_image: str) -> Iterator[Registry]:
    yield from _start()


@pytest.fixture(scope="module")
def tls_registry(docker_image: str) -> Iterator[Registry]:
    yield from _start(tls=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local endpoint notifications are sent to (an Apprise json:// URL)."""
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def server_docker_config() -> Iterator[None]:
    """The server user's ~/.docker: what is there before is exactly there after."""
    home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")

    def state() -> dict[str, tuple[float, int]]:
        return {str(p): (p.stat().st_mtime, p.stat().st_size) for p in home.glob("*") if p.is_file()}

    before, had_config = state(), (home / "config.json").exists()
    yield
    assert state() == before
    assert (home / "config.json").exists() == had_config


def _marker(stack: dict[str, Any]) -> str:
    return subprocess.run(
        ["docker", "exec", container_name(stack), "cat", "/marker"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _running_image(stack: dict[str, Any]) -> str:
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{.Image}}", container_name(stack)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def _add_registry(api: APIClient, server: Registry, **extra: Any) -> dict[str, Any]:
    body = {"name": f"reg-{server.host}", "url": server.host, "username": USER, "password": PASSWORD, **extra}
    response = api.post("/api/registries", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_a_private_image_needs_its_login_and_every_deploy_runs_an_exact_digest(
    api: APIClient,
    git_server: Any,
    make_stack: Any,
    registry_server: Registry,
    server_docker_config: None,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[str] = []
    first = registry_server.push_image("team/app", marker="one")
    image = registry_server.ref("team/app")
    repo = git_server.create_repo(f"private-{first[7:15]}", {"compose.yaml": PRIVATE.format(image=image)})
    stack = make_stack(repo, envFilePath="", notifyUrls=[receiver.url("stack")])

    refused = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert refused.json()["deployed"] is False
    assert "authentication" in refused.json()["error"] and registry_server.host in refused.json()["error"]

    created = _add_registry(api, registry_server)
    assert "password" not in created and created["hasPassword"] is True
    answers.append(json.dumps(created))
    deployed = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert deployed["deployed"] is True, deployed
    ran = api.get(f"/api/deployments/{deployed['deploymentId']}").json()
    answers.append(json.dumps(ran))
    assert ran["images"][0]["service"] == "app" and ran["images"][0]["image"] == image
    assert ran["images"][0]["digest"] == f"{registry_server.host}/team/app@{first}"
    assert ran["images"][0]["imageId"] == _running_image(stack)
    assert _marker(stack) == "one"
    synced = api.get(f"/api/git/stacks/{stack['id']}/status?refresh=true").json()
    assert synced["syncState"] == "Synced", synced

    # The tag moves on at the registry: seen without a pull, and a sync runs it.
    second = registry_server.push_image("team/app", marker="two")
    status = api.get(f"/api/git/stacks/{stack['id']}/status?refresh=true").json()
    answers.append(json.dumps(status))
    assert status["syncState"] == "OutOfSync"
    assert f"image {image} has a newer digest" in status["reasons"]
    assert status["imageUpdates"] == [{"service": "app", "image": image, "running": first, "available": second}]
    assert _marker(stack) == "one"
    updated = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert updated["deployed"] is True, updated
    assert _marker(stack) == "two"
    update = Deployment.objects.get(pk=updated["deploymentId"])
    assert update.images[0]["digest"] == f"{registry_server.host}/team/app@{second}"
    assert moved_lines(update) == [f"image {image} moved from {first} to {second}"]
    # Its notification says so (the refused sync's and the first deploy's before it did not).
    told = [r["body"]["message"] for r in receiver.wait_for(3)]
    assert len(told) == 3 and "moved" not in told[0] + told[1]
    assert f"image {image} moved from {first} to {second}" in told[2].splitlines()
    assert api.get(f"/api/git/stacks/{stack['id']}/status?refresh=true").json()["syncState"] == "Synced"

    # A rollback runs the first digest although the tag points at the second.
    back = api.post(f"/api/git/stacks/{stack['id']}/rollback", {"deploymentId": ran["id"]}, format="json").json()
    assert back["deployed"] is True, back
    assert _marker(stack) == "one" and _running_image(stack) == ran["images"][0]["imageId"]
    rolled = api.get(f"/api/deployments/{back['deploymentId']}").json()
    answers.append(json.dumps(rolled))
    assert rolled["images"][0]["image"] == image
    assert rolled["images"][0]["digest"] == f"{registry_server.host}/team/app@{first}"
    # ... and the stack knows the tag has moved on since.
    later = api.get(f"/api/git/stacks/{stack['id']}/status?refresh=true").json()
    assert f"image {image} has a newer digest" in later["reasons"]

    # The deployment page shows the digest; the password is nowhere.
    page = api.get(f"/deployments/{ran['id']}/").content.decode()
    assert first[:19] in page
    outputs = [d.output_text() + d.error for d in Deployment.objects.filter(stack_id=stack["id"])]
    sent = [r["raw"] for r in receiver.received]
    for text in [*answers, *outputs, *sent, page, caplog.text, refused.content.decode()]:
        assert PASSWORD not in text


def test_a_registry_of_another_environment_is_not_used(
    api: APIClient, git_server: Any, make_stack: Any, registry_server: Registry
) -> None:
    pushed = registry_server.push_image("team/other", marker="other")
    image = registry_server.ref("team/other")
    repo = git_server.create_repo(f"other-{pushed[7:15]}", {"compose.yaml": PRIVATE.format(image=image)})
    stack = make_stack(repo, envFilePath="")
    environment = api.post("/api/environments", {"name": "elsewhere"}, format="json").json()
    _add_registry(api, registry_server, name="elsewhere-only", environmentIds=[environment["id"]])
    refused = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert refused["deployed"] is False and "authentication" in refused["error"]


def test_a_failed_pull_says_not_found_or_unreachable_naming_the_registry(
    api: APIClient, git_server: Any, make_stack: Any, registry_server: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _add_registry(api, registry_server, name="missing")
    missing = registry_server.ref("team/nothing-here", "missing")
    closed = f"127.0.0.1:{registry_support.free_port()}"  # nothing listens there
    errors = []
    for image in (missing, f"{closed}/team/app:1"):
        repo = git_server.create_repo(f"fails-{os.urandom(4).hex()}", {"compose.yaml": PRIVATE.format(image=image)})
        failed = api.post(f"/api/git/stacks/{make_stack(repo, envFilePath='')['id']}/sync", {}, format="json").json()
        assert failed["deployed"] is False
        errors.append(failed["error"])
    assert errors[0] == f"Registry {registry_server.host}: image {missing} not found"
    assert errors[1] == f"Registry {closed} is unreachable: pulling {closed}/team/app:1: connection refused"
    outputs = [d.output_text() + d.error for d in Deployment.objects.all()]
    for text in [*outputs, caplog.text]:
        assert PASSWORD not in text and reg.Login("", USER, PASSWORD).auth not in text


def test_the_clock_finds_a_moved_tag_itself_and_applies_it_only_with_auto_update_images(
    api: APIClient, git_server: Any, make_stack: Any, registry_server: Registry
) -> None:
    first = registry_server.push_image("team/sched", marker="s1")
    image = registry_server.ref("team/sched")
    repo = git_server.create_repo(f"sched-{first[7:15]}", {"compose.yaml": PRIVATE.format(image=image)})
    stack = make_stack(repo, envFilePath="", autoUpdate=True, autoUpdateCron="* * * * *")
    _add_registry(api, registry_server, name="sched")
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()["deployed"] is True
    second = registry_server.push_image("team/sched", marker="s2")

    # Nobody asked the registry: the clock does, on its tick, and holds the update.
    now = timezone.now()
    held = auto_sync_tick(now + timedelta(minutes=1))
    assert list(held) == [stack["id"]] and "autoUpdateImages is off" in held[stack["id"]]
    assert _marker(stack) == "s1"
    status = api.get(f"/api/git/stacks/{stack['id']}/status").json()
    assert status["syncState"] == "OutOfSync" and f"image {image} has a newer digest" in status["reasons"]
    # The stack page's button asks the registry too: out of sync, and no "saved change".
    page = api.post(f"/stacks/{stack['id']}/check-images/", follow=True).content.decode()
    assert f"Newer images: {image} (app)." in page
    assert f"image {image} has a newer digest" in page and 'id="pending-changes"' not in page

    on = api.put(f"/api/git/stacks/{stack['id']}", {"autoUpdateImages": True}, format="json")
    assert on.status_code == 200 and on.json()["autoUpdateImages"] is True
    assert auto_sync_tick(now + timedelta(minutes=2))[stack["id"]].startswith("deployment ")
    assert _marker(stack) == "s2"
    last = Deployment.objects.filter(stack_id=stack["id"]).order_by("-id").first()
    assert last is not None and last.trigger == "schedule" and last.status == "success"
    assert last.images[0]["digest"] == f"{registry_server.host}/team/sched@{second}"


def test_a_build_is_pushed_to_push_to_tagged_with_its_commit(
    api: APIClient, git_server: Any, make_stack: Any, registry_server: Registry, docker_image: str
) -> None:
    compose = (
        "services:\n  app:\n    build: .\n    pull_policy: build\n"
        '    command: ["sh", "-c", "exec sleep 3600"]\n    stop_grace_period: 1s\n'
    )
    files = {"compose.yaml": compose, "Dockerfile": f"FROM {docker_image}\nRUN echo built > /marker\n"}
    repo = git_server.create_repo(f"built-{os.urandom(4).hex()}", files)
    target = f"{registry_server.host}/team/built"
    stack = make_stack(repo, envFilePath="", pushTo=target)
    assert stack["pushTo"] == target
    _add_registry(api, registry_server, name="push")
    done = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert done["deployed"] is True, done
    shown = api.get(f"/api/deployments/{done['deploymentId']}").json()
    assert shown["pushedImage"] == f"{target}:{done['commit']}"
    login = reg.Login(registry_server.host, USER, PASSWORD)
    digest = reg.remote_digest(shown["pushedImage"], [login])
    assert shown["images"][0]["digest"] == f"{target}@{digest}"
    subprocess.run(["docker", "image", "rm", "-f", shown["pushedImage"]], capture_output=True)
    bad = api.put(f"/api/git/stacks/{stack['id']}", {"pushTo": f"{target}:v1"}, format="json")
    assert bad.status_code == 400 and "pushTo" in bad.json()["error"]


def test_a_tls_registry_with_its_own_ca(
    api: APIClient, git_server: Any, make_stack: Any, tls_registry: Registry
) -> None:
    assert (registry_support.CERTS_DIR / tls_registry.host / "ca.crt").is_file()
    first = tls_registry.push_image("team/tls", marker="tls")
    image = tls_registry.ref("team/tls")
    repo = git_server.create_repo(f"tls-{first[7:15]}", {"compose.yaml": PRIVATE.format(image=image)})
    stack = make_stack(repo, envFilePath="")
    created = _add_registry(api, tls_registry, name="tls")
    tested = api.post(f"/api/registries/{created['id']}/test").json()
    assert tested == {"success": True, "message": f"Logged in to {tls_registry.host} as {USER}"}
    done = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert done["deployed"] is True, done
    assert Deployment.objects.get(pk=done["deploymentId"]).images[0]["digest"].endswith(first)
    assert GitStack.objects.get(pk=stack["id"]).image_digests == {image: first}


def test_a_deploy_gets_a_private_docker_config_and_the_servers_is_never_read_nor_lent(
    api: APIClient,
    git_server: Any,
    make_stack: Any,
    registry_server: Registry,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    settings: Any,
) -> None:
    pushed = registry_server.push_image("team/own", marker="own")
    image = registry_server.ref("team/own")
    repo = git_server.create_repo(f"own-{pushed[7:15]}", {"compose.yaml": PRIVATE.format(image=image)})
    stack = make_stack(repo, envFilePath="")
    # As if the server's user had run `docker login`: in DOCKER_CONFIG, and in ~/.docker.
    with registry_server.docker_config() as logged_in:
        home = tmp_path / "home"
        (home / ".docker").mkdir(parents=True)
        shutil.copy(logged_in / "config.json", home / ".docker" / "config.json")
        monkeypatch.setenv("DOCKER_CONFIG", str(logged_in))
        monkeypatch.setenv("HOME", str(home))
        servers = [logged_in / "config.json", home / ".docker" / "config.json"]
        before = [path.read_bytes() for path in servers]
        with files_opened(servers) as opened:
            refused = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
            assert refused["deployed"] is False and "authentication" in refused["error"]
            _add_registry(api, registry_server, name="own")
            elsewhere = {"name": "elsewhere", "url": "elsewhere.example:5000", "username": "e", "password": "E-Pass-31"}
            assert api.post("/api/registries", elsewhere, format="json").status_code == 201
            with run_configs_seen(settings.RUN_DIR) as seen:
                deployed = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
            assert deployed["deployed"] is True, deployed
            status = api.get(f"/api/git/stacks/{stack['id']}/status?refresh=true").json()
            assert status["syncState"] == "Synced", status
        assert opened == []
        assert [path.read_bytes() for path in servers] == before
    # Compose ran with configs of the deploy's own: private, holding this registry's
    # login and no other, and gone once the deploy ended.
    assert seen
    assert all(config.modes == {0o700} for config in seen.values())
    logins = {host: auth for config in seen.values() for host, auth in config.auths.items()}
    assert logins == {registry_server.host: reg.Login(registry_server.host, USER, PASSWORD).auth}
    assert not any(Path(where).exists() for where in seen)


def test_a_test_login_says_why_it_failed_without_the_password(api: APIClient, registry_server: Registry) -> None:
    wrong = "Wrong-Pass-0f9e"
    created = _add_registry(api, registry_server, name="wrong", password=wrong)
    tested = api.post(f"/api/registries/{created['id']}/test")
    assert tested.status_code == 200
    assert tested.json() == {
        "success": False,
        "message": f"Registry {registry_server.host}: authentication failed: the username or password was refused",
    }
    page = api.post(f"/registries/{created['id']}/test/").content.decode()
    assert "authentication failed" in page and wrong not in page


CRASHING = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "exec sleep 3600"]
    healthcheck:
      test: ["CMD", "grep", "-q", "good", "/marker"]
      interval: 1s
      retries: 2
    stop_grace_period: 1s
"""


def test_an_auto_rollback_after_a_failed_health_gate_runs_the_old_digest(
    api: APIClient, git_server: Any, make_stack: Any, registry_server: Registry
) -> None:
    first = registry_server.push_image("team/gate", marker="good")
    image = registry_server.ref("team/gate")
    compose = CRASHING.format(image=image)
    repo = git_server.create_repo(f"gate-{first[7:15]}", {"compose.yaml": compose})
    stack = make_stack(repo, envFilePath="", autoRollback=True, healthTimeout=15)
    _add_registry(api, registry_server, name="gate")
    good = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert good["deployed"] is True, good
    # The tag now points at an image whose container exits at once.
    registry_server.push_image("team/gate", marker="bad")
    assert api.get(f"/api/git/stacks/{stack['id']}/status?refresh=true").json()["syncState"] == "OutOfSync"
    failed = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert failed["deployed"] is False, failed
    rollback = Deployment.objects.filter(stack_id=stack["id"], trigger="rollback").get()
    assert rollback.status == "success", rollback.error
    assert rollback.images[0]["digest"] == f"{registry_server.host}/team/gate@{first}"
    assert _marker(stack) == "good"
