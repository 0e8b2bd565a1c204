""" "Synced" means the running stack is exactly commit + overrides + options: a change
saved in the dashboard or the API is a reason to sync, and a sync applies it (spec §4).
Real git server, real Docker engine, inline worker."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SECRET_VALUE, compose_file, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db

ROTATED = "r0tated-Secret-58e2"


def _sync(api: Any, stack: dict[str, Any], **body: Any) -> Any:
    return api.post(f"/api/git/stacks/{stack['id']}/sync", body, format="json")


def _status(api: Any, stack: dict[str, Any]) -> dict[str, Any]:
    response = api.get(f"/api/git/stacks/{stack['id']}/status")
    assert response.status_code == 200, response.content
    return dict(response.json())


def _overrides(plain: str = "plain-override", secret: str | None = None) -> list[dict[str, Any]]:
    return [
        {"key": "PLAIN", "value": plain, "isSecret": False},
        {"key": "SECRET", "value": secret, "isSecret": True},
    ]


def _put(api: Any, stack: dict[str, Any], **fields: Any) -> None:
    response = api.put(f"/api/git/stacks/{stack['id']}", fields, format="json")
    assert response.status_code == 200, response.content


def test_a_changed_override_is_out_of_sync_and_the_next_sync_applies_it(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    assert _status(api, stack)["syncState"] == "Synced"

    _put(api, stack, envVars=_overrides(plain="changed-in-the-dashboard"))
    status = _status(api, stack)
    assert status["syncState"] == "OutOfSync" and status["reasons"] == ["override PLAIN changed"]

    body = _sync(api, stack).json()
    assert body["success"] is True and body["deployed"] is True, body
    assert dockersupport.container_env(container_name(stack))["PLAIN"] == "changed-in-the-dashboard"
    assert _status(api, stack)["syncState"] == "Synced"
    # Nothing changed since: no deploy.
    assert _sync(api, stack).json()["deployed"] is False


def test_added_and_removed_overrides_are_named(api: Any, app_repo: Any, make_stack: Any, docker_image: str) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    _put(api, stack, envVars=[*_overrides(), {"key": "EXTRA", "value": "1", "isSecret": False}][1:])
    reasons = _status(api, stack)["reasons"]
    assert reasons == ["override EXTRA added", "override PLAIN removed"]


def test_a_rotated_secret_reaches_the_container_and_never_a_response(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    assert dockersupport.container_env(container_name(stack))["SECRET"] == SECRET_VALUE

    _put(api, stack, envVars=_overrides(secret=ROTATED))
    seen = [str(_status(api, stack))]
    assert _status(api, stack)["reasons"] == ["secret SECRET changed"]
    response = _sync(api, stack)
    seen.append(response.content.decode())
    assert response.json()["deployed"] is True
    assert dockersupport.container_env(container_name(stack))["SECRET"] == ROTATED
    for url in (
        f"/api/git/stacks/{stack['id']}",
        "/api/git/stacks",
        f"/api/git/stacks/{stack['id']}/deployments",
        f"/api/git/stacks/{stack['id']}/status",
    ):
        seen.append(api.get(url).content.decode())
    everything = "\n".join(seen)
    assert ROTATED not in everything and SECRET_VALUE not in everything
    # Keeping the secret (no value given) changes nothing.
    _put(api, stack, envVars=_overrides(secret=None))
    assert _status(api, stack)["syncState"] == "Synced"


def test_a_changed_option_is_applied_by_a_sync(api: Any, git_server: Any, make_stack: Any, docker_image: str) -> None:
    with_profile = compose_file("1") + (
        "  extra:\n"
        f"    image: {dockersupport.IMAGE}\n"
        "    pull_policy: never\n"
        '    command: ["sh", "-c", "sleep 3600"]\n'
        "    stop_grace_period: 1s\n"
        "    profiles: [extra]\n"
    )
    repo = git_server.create_repo(f"profiles-{stack_suffix()}", {"compose.yaml": with_profile, ".env": ""})
    stack = make_stack(repo)
    assert _sync(api, stack).json()["deployed"] is True
    assert [c["Names"] for c in dockersupport.containers(stack["projectName"])] == [container_name(stack)]

    _put(api, stack, profiles=["extra"])
    assert _status(api, stack)["reasons"] == ["option profiles changed"]
    assert _sync(api, stack).json()["deployed"] is True
    assert dockersupport.inspect(container_name(stack, "extra"))["State"]["Running"] is True  # type: ignore[index]
    assert _status(api, stack)["syncState"] == "Synced"


def test_a_new_commit_is_the_reason_until_it_is_deployed(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    new = app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    assert _status(api, stack)["reasons"] == [f"new commit {new[:7]}"]
    assert _sync(api, stack).json()["deployed"] is True
    assert _status(api, stack)["syncState"] == "Synced"


def test_a_pinned_commit_deploys_and_shows_until_the_next_ordinary_sync(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    first = app_repo.head()
    assert _sync(api, stack).json()["deployed"] is True
    head = app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    assert _sync(api, stack).json()["deployed"] is True

    body = _sync(api, stack, commit=first[:10]).json()
    assert body["deployed"] is True and body["commit"] == first, body
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"
    status = _status(api, stack)
    assert status["syncState"] == "OutOfSync"
    assert status["reasons"] == [f"pinned to {first[:12]}, branch is at {head[:12]}"]

    body = _sync(api, stack).json()
    assert body["deployed"] is True and body["commit"] == head
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "2"
    assert _status(api, stack)["syncState"] == "Synced"


def test_a_commit_not_on_the_branch_is_refused_naming_the_branch(
    api: Any, app_repo: Any, make_stack: Any, git_server: Any
) -> None:
    stack = make_stack(app_repo)
    elsewhere = git_server.create_repo(f"other-{stack_suffix()}", {"compose.yaml": compose_file("9")}).head()
    response = _sync(api, stack, commit=elsewhere)
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"commit": [f"{elsewhere} is not a commit of the branch {app_repo.branch}"]}
    for bad in ("main", "xyz", 7, "0" * 65):
        response = _sync(api, stack, commit=bad)
        assert response.status_code == 400 and "commit" in response.json()["fields"], response.content
    assert api.get(f"/api/git/stacks/{stack['id']}/deployments").json()["meta"]["total"] == 0


def stack_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def test_the_diff_shows_line_diffs_overrides_options_and_services(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    from tests.conftest import REPO_ENV

    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    app_repo.commit(
        {".env": REPO_ENV + f"COPIED={ROTATED}\n", "compose.yaml": compose_file("2"), "README.md": "v2\n"}, "v2"
    )
    _put(
        api,
        stack,
        envVars=[*_overrides(plain="new-plain", secret=ROTATED), {"key": "EXTRA", "value": "1", "isSecret": False}],
        profiles=["extra"],
    )

    response = api.get(f"/api/git/stacks/{stack['id']}/diff")
    assert response.status_code == 200, response.content
    diff = response.json()
    files = {f["path"]: f for f in diff["files"]}
    assert (
        '-      VERSION: "1"' in files["compose.yaml"]["diff"]
        and '+      VERSION: "2"' in files["compose.yaml"]["diff"]
    )
    assert "+COPIED=********" in files[".env"]["diff"]  # the secret's value, masked
    assert files["README.md"]["diff"] is None  # listed, but it decides nothing that runs
    assert diff["overrides"] == {
        "added": ["EXTRA"],
        "changed": ["PLAIN", "SECRET"],
        "removed": [],
        "secrets": ["SECRET"],
        "secretInputs": [],  # no store value or decrypted file changed
    }
    assert diff["options"] == [{"name": "profiles", "from": [], "to": ["extra"]}]
    assert diff["services"] == ["app"]
    assert ROTATED not in response.content.decode() and "new-plain" not in response.content.decode()


def test_saving_a_stack_leaves_its_lock_and_what_was_applied_alone(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    from stacks.models import Deployment, GitStack
    from stacks.services.lock import lock_take_for
    from stacks.services.stacks import stack_update

    stack = make_stack(app_repo)
    stale = GitStack.objects.get(pk=stack["id"])  # what a PUT read before the sync below
    assert _sync(api, stack).json()["deployed"] is True  # meanwhile: applied and recorded
    holder = Deployment.objects.create(stack_id=stack["id"], trigger="api")
    lock_take_for(GitStack.objects.get(pk=stack["id"]), holder)  # and the next sync holds the lock

    stack_update(stack=stale, fields={"auto_update_cron": "0 4 * * *"})

    row = GitStack.objects.get(pk=stack["id"])
    assert row.auto_update_cron == "0 4 * * *"
    assert row.lock_owner == holder.pk and row.sync_status == "queued"
    assert row.last_commit == app_repo.head() and row.applied_config is not None and row.deployed_config_hashes
    with pytest.raises(ValueError, match="update_fields"):
        stale.save()  # a whole save of an existing row is refused outright


def test_a_compose_error_in_the_diff_shows_no_secret(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, viewer: Any
) -> None:
    from rest_framework.test import APIClient

    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True
    broken = compose_file("2").replace(
        "    stop_grace_period: 1s\n", '    stop_grace_period: 1s\n    ports: ["${SECRET}"]\n'
    )
    app_repo.commit({"compose.yaml": broken}, "a port from the secret")
    looker = APIClient()
    looker.force_authenticate(viewer)
    for client in (api, looker):
        response = client.get(f"/api/git/stacks/{stack['id']}/diff")
        assert response.status_code == 200, response.content
        assert "********" in response.json()["servicesError"]
        assert SECRET_VALUE not in response.content.decode()


def test_a_pin_holds_against_automatic_syncs_and_pinning_what_runs_deploys_nothing(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str, viewer: Any
) -> None:
    from rest_framework.test import APIClient

    from stacks.models import GitStack
    from stacks.services.schedules import stack_sync_scheduled
    from stacks.services.sync import PAUSED_MESSAGE

    stack = make_stack(app_repo, autoUpdate=True)
    head = app_repo.head()
    assert _sync(api, stack).json()["deployed"] is True

    # A viewer may not pin: refused before the branch is fetched, whatever the commit.
    looker = APIClient()
    looker.force_authenticate(viewer)
    for commit in (head, "0" * 40):
        assert looker.post(f"/api/git/stacks/{stack['id']}/sync", {"commit": commit}, format="json").status_code == 403

    body = _sync(api, stack, commit=head).json()  # what already runs
    assert body["deployed"] is False and body["success"] is True, body
    status = _status(api, stack)
    assert status["syncState"] == "Synced" and status["reasons"] == []

    app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    # The schedule does not undo a pin.
    assert stack_sync_scheduled(stack_id=stack["id"]) == PAUSED_MESSAGE
    assert dockersupport.container_env(container_name(stack))["VERSION"] == "1"
    assert GitStack.objects.get(pk=stack["id"]).auto_sync_paused is True


def test_a_pinned_sync_starts_a_stopped_stack_and_says_so(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    first = app_repo.head()
    assert _sync(api, stack).json()["deployed"] is True
    app_repo.commit({"compose.yaml": compose_file("2")}, "v2")
    assert _sync(api, stack).json()["deployed"] is True
    assert api.post(f"/api/git/stacks/{stack['id']}/stop").json()["stoppedByUser"] is True

    assert _sync(api, stack, commit=first).json()["deployed"] is True
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["stoppedByUser"] is False
    assert dockersupport.inspect(container_name(stack))["State"]["Running"] is True  # type: ignore[index]


def test_a_stack_that_runs_is_not_moved_to_another_environment(
    api: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    far = api.post(
        "/api/environments", {"name": f"far-{stack_suffix()}", "dockerHost": "tcp://127.0.0.1:9"}, format="json"
    )
    assert far.status_code == 201, far.content
    stack = make_stack(app_repo)
    assert _sync(api, stack).json()["deployed"] is True

    moved = api.put(f"/api/git/stacks/{stack['id']}", {"environmentId": far.json()["id"]}, format="json")
    assert moved.status_code == 409
    assert moved.json()["error"].startswith("The stack still runs in local: take it down there first")
    assert api.get(f"/api/git/stacks/{stack['id']}").json()["environmentId"] != far.json()["id"]

    assert api.post(f"/api/git/stacks/{stack['id']}/down").status_code == 200
    moved = api.put(f"/api/git/stacks/{stack['id']}", {"environmentId": far.json()["id"]}, format="json")
    assert moved.status_code == 200 and moved.json()["environmentId"] == far.json()["id"]
