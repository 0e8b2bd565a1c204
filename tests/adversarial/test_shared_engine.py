"""Compose project names belong to the engine, not to the environment (Step 11, item 8):
an admin of one environment cannot take (and then stop or `down`) the project of another
environment's stack on the same engine, however that engine's address is spelled; two
environments on one engine are allowed, and said so wherever they are shown."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from stacks.models import Environment, Membership

pytestmark = pytest.mark.django_db


def _environment(api: APIClient, name: str, host: str) -> dict[str, Any]:
    created = api.post("/api/environments", {"name": name, "dockerHost": host}, format="json")
    assert created.status_code == 201, created.content
    return dict(created.json())


@pytest.mark.parametrize(
    "same_engine",
    [
        "",  # the default engine, like `local`
        "unix:///var/run/docker.sock",
        "unix:///run/docker.sock",  # the same socket by its other path
        "unix:///var/run//./docker.sock/",
    ],
)
def test_an_admin_of_one_environment_cannot_take_another_s_project_on_the_same_engine(
    api: APIClient, env_admin: Any, app_repo: Any, make_stack: Any, same_engine: str, settings: Any
) -> None:
    settings.DEFAULT_DOCKER_HOST = ""
    victim = make_stack(app_repo)  # in `local`, on the default engine
    theirs = _environment(api, "theirs", same_engine)
    Membership.objects.filter(user=env_admin).update(environment_id=theirs["id"])
    admin = APIClient()
    admin.force_login(env_admin)

    taken = admin.post(
        "/api/git/stacks",
        {
            "stackName": "innocent",
            "url": app_repo.url,
            "environmentId": theirs["id"],
            "projectName": victim["projectName"],
        },
        format="json",
    )

    assert taken.status_code == 400, taken.content
    assert taken.json()["fields"]["projectName"] == [
        f"compose project {victim['projectName']!r} is already used on this engine by another environment's stack"
    ]
    assert api.get("/api/environments").json()[1]["sharedEngineWith"] == ["local"]


def test_the_same_project_name_on_another_engine_is_fine(api: APIClient, app_repo: Any, make_stack: Any) -> None:
    first = make_stack(app_repo)
    other = _environment(api, "elsewhere", "tcp://10.0.0.9:2375")
    again = make_stack(app_repo, environmentId=other["id"], projectName=first["projectName"])
    assert again["projectName"] == first["projectName"]
    assert api.get(f"/api/environments/{other['id']}").json()["sharedEngineWith"] == []


def test_moving_an_environment_onto_an_engine_where_its_projects_are_taken_is_refused(
    api: APIClient, app_repo: Any, make_stack: Any
) -> None:
    mine = make_stack(app_repo)
    other = _environment(api, "elsewhere", "tcp://10.0.0.9:2375")
    make_stack(app_repo, environmentId=other["id"], projectName=mine["projectName"])

    moved = api.put(f"/api/environments/{other['id']}", {"dockerHost": ""}, format="json")

    assert moved.status_code == 400
    assert moved.json()["fields"]["dockerHost"] == [
        f"another environment on that engine already uses the compose projects {mine['projectName']}"
    ]
    assert Environment.objects.get(pk=other["id"]).docker_host == "tcp://10.0.0.9:2375"


def test_the_environment_list_says_which_share_an_engine(api: APIClient, admin: Any) -> None:
    _environment(api, "twin", "unix:///var/run/docker.sock")
    _environment(api, "apart", "tcp://10.0.0.9:2375")
    page = Client()
    page.force_login(admin)
    shown = page.get("/environments/").content.decode()
    assert shown.count("shared-engine") == 2  # local and twin, not apart
    assert "Shares this engine with twin" in shown and "Shares this engine with local" in shown


def test_a_stack_moves_to_another_environment_on_its_engine_with_its_project(
    api: APIClient, app_repo: Any, make_stack: Any
) -> None:
    stack = make_stack(app_repo)
    twin = _environment(api, "twin", "unix:///var/run/docker.sock")
    moved = api.put(f"/api/git/stacks/{stack['id']}", {"environmentId": twin["id"]}, format="json")
    assert moved.status_code == 200, moved.content
    assert moved.json()["projectName"] == stack["projectName"]


def test_a_viewer_sees_only_their_environments_and_not_who_shares_the_engine(api: APIClient, viewer: Any) -> None:
    hidden = _environment(api, "prod-hidden", "unix:///var/run/docker.sock")
    client = APIClient()
    client.force_login(viewer)
    (local,) = client.get("/api/environments").json()
    assert local["name"] == "local" and local["sharedEngineWith"] == []
    assert api.get("/api/environments").json()[0]["sharedEngineWith"] == ["prod-hidden"]  # the owner sees it
    page = Client()
    page.force_login(viewer)
    shown = page.get("/environments/").content.decode()
    assert "prod-hidden" not in shown and "Shares this engine with another environment" in shown
    assert page.get(f"/environments/{hidden['id']}/edit/").status_code == 404


def test_host_paths_survive_an_edit_of_their_environment_page(api: APIClient, admin: Any) -> None:
    env = _environment(api, "staging", "tcp://10.0.0.9:2375")
    page = Client()
    page.force_login(admin)
    form = {"name": "staging", "dockerHost": "tcp://10.0.0.9:2375", "policy": "baseline", "protection": "none"}
    saved = page.post(f"/environments/{env['id']}/edit/", {**form, "hostPaths": "/srv/data\n/opt/x/"})
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    shown = page.get(f"/environments/{env['id']}/edit/").content.decode()
    assert ">/opt/x\n/srv/data</textarea>" in shown
    again = page.post(f"/environments/{env['id']}/edit/", {**form, "hostPaths": "/opt/x\n/srv/data"})
    assert again.status_code == 302
    assert Environment.objects.get(pk=env["id"]).host_paths == ["/opt/x", "/srv/data"]
