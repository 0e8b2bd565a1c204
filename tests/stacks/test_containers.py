"""A stack's containers on the real engine: what each uses, its log as text with the
stack's secrets masked, start / stop / restart for deployers only and never beside a
sync, and no way to reach a container of another project through a stack."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dockhand.masking import MASK
from stacks import engine
from stacks.models import GitStack
from stacks.services.lock import lock_release, lock_take
from tests.conftest import SECRET_VALUE, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")


@pytest.fixture
def chatty(api: APIClient, git_server: Any, make_stack: Any, docker_image: str) -> dict[str, Any]:
    """A deployed stack of two services that print to their logs, the first line with
    the stack's secret override in it."""
    repo = git_server.create_repo(
        f"chatty-{uuid.uuid4().hex[:8]}", {"compose.yaml": dockersupport.chatty_compose("app", "worker")}
    )
    stack = make_stack(repo, envFilePath="")
    synced = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.content
    return stack


@pytest.fixture
def stranger(docker_image: str) -> Iterator[dict[str, str]]:
    """Containers no stack of ours owns: one of another compose project, one of none."""
    tag = uuid.uuid4().hex[:8]
    made = {}
    for kind, labels in (("other", ["--label", f"com.docker.compose.project=other-{tag}"]), ("loose", [])):
        name = f"dh-{kind}-{tag}"
        run = ["docker", "run", "-d", "--name", name, *labels, docker_image, "sh", "-c", "echo private; sleep 3600"]
        made[kind] = subprocess.run(run, check=True, capture_output=True, text=True).stdout.strip()
        made[f"{kind}-name"] = name
    yield made
    subprocess.run(["docker", "rm", "-f", made["other"], made["loose"]], capture_output=True)


def _as(user: Any) -> tuple[APIClient, Client]:
    api, page = APIClient(), Client()
    api.force_login(user)
    page.force_login(user)
    return api, page


def _logs(api: APIClient, stack: dict[str, Any], ref: str, **query: str) -> Any:
    return api.get(f"/api/git/stacks/{stack['id']}/containers/{ref}/logs", query)


def _running(name: str) -> bool:
    return bool(dockersupport.inspect(name)["State"]["Running"])  # type: ignore[index]


def test_the_list_says_what_each_container_uses_when_asked(api: APIClient, chatty: dict[str, Any]) -> None:
    plain = api.get(f"/api/git/stacks/{chatty['id']}/containers")
    assert plain.status_code == 200
    rows = plain.json()
    assert [r["service"] for r in rows] == ["app", "worker"]
    app = rows[0]
    assert app["id"] == dockersupport.inspect(container_name(chatty))["Id"]
    assert app["state"] == "running" and app["status"].startswith("Up ")
    assert "cpuPercent" not in app  # measuring takes the engine a second: only on request

    measured = api.get(f"/api/git/stacks/{chatty['id']}/containers", {"stats": "true"}).json()
    for row in measured:
        assert isinstance(row["cpuPercent"], float) and 0 <= row["cpuPercent"] <= 100 * 64
        assert row["memoryBytes"] > 0 and row["memoryLimitBytes"] >= row["memoryBytes"]
        started = datetime.fromisoformat(row["startedAt"])
        inspected = datetime.fromisoformat(str(dockersupport.inspect(row["name"])["State"]["StartedAt"]))  # type: ignore[index]
        assert abs(started - inspected) < timedelta(milliseconds=1)
        assert 0 <= row["uptimeSeconds"] < 300

    subprocess.run(["docker", "stop", "-t", "1", container_name(chatty, "worker")], check=True, capture_output=True)
    stopped = api.get(f"/api/git/stacks/{chatty['id']}/containers", {"stats": "true"}).json()[1]
    assert stopped["state"] == "exited" and stopped["status"].startswith("Exited (")
    assert (stopped["cpuPercent"], stopped["memoryBytes"], stopped["startedAt"]) == (None, None, None)
    assert api.get(f"/api/git/stacks/{chatty['id']}/containers", {"stats": "maybe"}).status_code == 400


def test_a_containers_log_reads_as_text_with_the_secret_masked(
    api: APIClient, chatty: dict[str, Any], viewer: Any
) -> None:
    name = container_name(chatty)
    reader, _ = _as(viewer)  # whoever sees the stack reads its logs
    shown = _logs(reader, chatty, name)
    assert shown.status_code == 200 and shown["Content-Type"] == "text/plain; charset=utf-8"
    assert shown.content.decode() == f"booting with {MASK}\nready\n"
    assert SECRET_VALUE in dockersupport.container_env(name)["SECRET"]  # it was there to leak

    dockersupport.print_line(name, f"later: {SECRET_VALUE} twice {SECRET_VALUE}")
    assert _logs(reader, chatty, name, tail="1").content.decode() == f"later: {MASK} twice {MASK}\n"
    stamped = _logs(reader, chatty, name, timestamps="true").content.decode().splitlines()
    assert len(stamped) == 3 and all(STAMP.match(line) for line in stamped), stamped
    assert stamped[0].endswith(f" booting with {MASK}")

    # By its short id as well as its name; `since` cuts the older lines.
    short = dockersupport.inspect(name)["Id"][:12]  # type: ignore[index]
    assert _logs(reader, chatty, short, tail="all").content.decode().endswith(f"twice {MASK}\n")
    assert _logs(reader, chatty, name, since="1h").content.decode().startswith("booting with")
    future = str(int((datetime.now() + timedelta(hours=1)).timestamp()))
    assert _logs(reader, chatty, name, since=future).content.decode() == ""

    download = _logs(reader, chatty, name, download="1", timestamps="1")
    assert download.status_code == 200
    assert re.fullmatch(
        rf'attachment; filename="{re.escape(name)}-\d{{8}}-\d{{6}}\.log"', download["Content-Disposition"]
    )
    assert SECRET_VALUE not in download.content.decode() and MASK in download.content.decode()

    bad = [
        ({"tail": "-1"}, "tail"),
        ({"tail": "lots"}, "tail"),
        ({"since": "yesterday"}, "since"),
        ({"since": "9" * 20}, "since"),
    ]
    for query, field in bad:
        refused = _logs(reader, chatty, name, **query)
        assert refused.status_code == 400 and refused.json()["error"].startswith(f"{field}: "), refused.content


def test_a_container_of_another_project_is_not_found_through_a_stack(
    api: APIClient, chatty: dict[str, Any], stranger: dict[str, str], deployer: Any, outsider: Any
) -> None:
    assert _logs(api, chatty, container_name(chatty)).status_code == 200
    as_deployer, _ = _as(deployer)
    for client in (api, as_deployer):  # not even an owner, who may read every container elsewhere
        for ref in (stranger["other"], stranger["other"][:12], stranger["other-name"], stranger["loose-name"], "app"):
            found = _logs(client, chatty, ref)
            assert found.status_code == 404 and found.json()["error"].startswith("Stack "), (ref, found.content)
            stop = client.post(f"/api/git/stacks/{chatty['id']}/containers/{ref}/stop")
            assert stop.status_code == 404, (ref, stop.content)
    assert _running(stranger["other-name"]) and _running(stranger["loose-name"])
    # Someone who does not see the stack learns nothing of its containers.
    as_outsider, page = _as(outsider)
    assert _logs(as_outsider, chatty, container_name(chatty)).status_code == 404
    assert (
        as_outsider.post(f"/api/git/stacks/{chatty['id']}/containers/{container_name(chatty)}/stop").status_code == 404
    )
    assert page.get(f"/stacks/{chatty['id']}/containers/").status_code == 404


def test_a_deployer_stops_starts_and_restarts_one_container(chatty: dict[str, Any], deployer: Any, viewer: Any) -> None:
    app, worker = container_name(chatty), container_name(chatty, "worker")
    as_viewer, viewer_page = _as(viewer)
    for action in ("stop", "restart", "start"):
        refused = as_viewer.post(f"/api/git/stacks/{chatty['id']}/containers/{app}/{action}")
        assert refused.status_code == 403 and "needs deployer" in refused.json()["error"], refused.content
        assert viewer_page.post(f"/stacks/{chatty['id']}/containers/{app}/{action}/").status_code == 403
    assert _running(app)

    api, page = _as(deployer)
    stopped = api.post(f"/api/git/stacks/{chatty['id']}/containers/{app}/stop")
    assert stopped.status_code == 200, stopped.content
    assert stopped.json()["success"] is True and stopped.json()["container"]["state"] == "exited"
    assert not _running(app) and _running(worker)  # one container, not the stack
    assert GitStack.objects.get(pk=chatty["id"]).stopped_by_user is False

    started = page.post(f"/stacks/{chatty['id']}/containers/{app}/start/")
    assert started.status_code == 302 and started["Location"] == f"/stacks/{chatty['id']}/#containers-section"
    assert _running(app)

    before = dockersupport.inspect(worker)["State"]["StartedAt"]  # type: ignore[index]
    restarted = api.post(f"/api/git/stacks/{chatty['id']}/containers/{worker}/restart")
    assert restarted.status_code == 200 and restarted.json()["container"]["state"] == "running"
    assert dockersupport.inspect(worker)["State"]["StartedAt"] != before  # type: ignore[index]

    trail = [(e["action"], e["detail"], e["actor"]) for e in api.get("/api/audit").json()["data"]]
    assert ("container.stop", f"container {app}", "user:deployer") in trail
    assert ("container.start", f"container {app}", "user:deployer") in trail
    assert ("container.restart", f"container {worker}", "user:deployer") in trail


def test_a_container_action_never_runs_beside_a_sync(api: APIClient, chatty: dict[str, Any], admin: Any) -> None:
    stack = GitStack.objects.get(pk=chatty["id"])
    lock_take(stack, 987654, timedelta(minutes=5))  # as a queued deployment holds it
    try:
        busy = api.post(f"/api/git/stacks/{chatty['id']}/containers/{container_name(chatty)}/stop")
        assert busy.status_code == 409 and busy.json()["success"] is False, busy.content
        _, page = _as(admin)
        refused = page.post(f"/stacks/{chatty['id']}/containers/{container_name(chatty)}/restart/")
        assert refused.status_code == 409 and "already syncing" in refused.content.decode()
    finally:
        lock_release(stack, 987654)
    assert _running(container_name(chatty))
    # The action held the lock while it ran, and gave it back.
    assert api.post(f"/api/git/stacks/{chatty['id']}/containers/{container_name(chatty)}/restart").status_code == 200
    assert GitStack.objects.get(pk=chatty["id"]).lock_owner is None


def test_an_engine_that_cannot_be_asked_is_a_502(
    api: APIClient, chatty: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise engine.EngineError(f"Cannot read the container's log: {SECRET_VALUE} is gone")

    monkeypatch.setattr(engine, "container_logs", refuse)
    answer = _logs(api, chatty, container_name(chatty))
    assert answer.status_code == 502 and answer.json() == {
        "error": f"Cannot read the container's log: {MASK} is gone",
        "code": "engine_unreachable",
    }


def test_the_stack_page_offers_logs_to_viewers_and_actions_to_deployers(
    chatty: dict[str, Any], viewer: Any, deployer: Any
) -> None:
    app = container_name(chatty)
    short = str(dockersupport.inspect(app)["Id"])[:12]  # type: ignore[index]
    _, viewer_page = _as(viewer)
    seen = viewer_page.get(f"/stacks/{chatty['id']}/").content.decode()
    assert 'id="containers-section"' in seen and f'data-logs="{short}"' in seen and 'id="log-viewer"' in seen
    assert "data-confirm-action" not in seen and "data-container-start" not in seen
    assert SECRET_VALUE not in seen

    _, deployer_page = _as(deployer)
    offered = deployer_page.get(f"/stacks/{chatty['id']}/").content.decode()
    assert f'data-confirm-url="/stacks/{chatty["id"]}/containers/{short}/stop/"' in offered
    assert f'data-confirm-url="/stacks/{chatty["id"]}/containers/{short}/restart/"' in offered

    # The part HTMX refreshes: uptime, CPU and memory measured.
    part = deployer_page.get(f"/stacks/{chatty['id']}/containers/").content.decode()
    table = part[part.index('id="containers"') : part.index("</table>")]
    assert table.count("data-cpu>") == 2 and re.search(r"data-cpu>\d+\.\d %<", table), table
    assert re.search(r"data-memory>[\d.]+\xa0(bytes|KB|MB|GB)", table), table
    assert re.search(r'title="Started \d{4}-\d\d-\d\d [\d:]+ UTC" data-uptime>\d+ (s|min)<', table), table
    subprocess.run(["docker", "stop", "-t", "1", app], check=True, capture_output=True)
    part = deployer_page.get(f"/stacks/{chatty['id']}/containers/").content.decode()
    assert "data-container-start" in part and 'data-container-state="exited">exited (137)<' in part


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h 0 min"), (7 * 3600 + 125, "7 h 2 min"),
     (86400 * 3 + 3600 * 5 + 7, "3 d 5 h")],
)  # fmt: skip
def test_uptime_reads_as_docker_ps_rounds_it(seconds: int, shown: str) -> None:
    from stacks.templatetags.stack_containers import _age

    assert _age(seconds) == shown


@pytest.mark.parametrize(
    ("state", "status", "exit_code", "label", "uptime"),
    [
        ("running", "Up 3 minutes (healthy)", 0, "running", "3 minutes"),
        ("exited", "Exited (137) Less than a second ago", 137, "exited (137)", "exited less than a second ago"),
        ("exited", "Exited (0) 2 hours ago", 0, "exited (0)", "exited 2 hours ago"),
        ("restarting", "Restarting (1) 4 seconds ago", 0, "restarting", "restarting 4 seconds ago"),
        ("created", "Created", 0, "created", ""),
    ],
)
def test_a_row_says_the_state_and_since_when_before_it_is_measured(
    state: str, status: str, exit_code: int, label: str, uptime: str
) -> None:
    from stacks.templatetags.stack_containers import ContainerRow

    row = ContainerRow(engine.ContainerInfo("0" * 64, "c", "app", "img", state, status=status, exit_code=exit_code))
    assert (row.state_label, row.uptime) == (label, uptime)
