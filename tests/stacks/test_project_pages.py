"""The projects page (Step 16): whoever sees an environment sees its projects; its
admins get the buttons, and the adopt form names what is wrong with its fields."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from stacks import engine
from stacks.services.stacks import local_environment

pytestmark = pytest.mark.django_db

RUNNING = [
    engine.ContainerInfo(id="c1", name="shop-web-1", service="web", image="i", state="running", project="shop"),
    engine.ContainerInfo(id="c2", name="shop-db-1", service="db", image="i", state="exited", project="shop"),
]


@pytest.fixture(autouse=True)
def _engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only this test's fake project (the engine is patched, nothing deeper).
    monkeypatch.setattr(engine, "containers", lambda endpoint, projects=None: RUNNING)
    monkeypatch.setattr(engine, "project_containers", lambda endpoint, project: RUNNING if project == "shop" else [])


def _page(user: Any, url: str = "/projects/") -> str:
    client = Client()
    client.force_login(user)
    answer = client.get(url)
    assert answer.status_code == 200, answer.content
    return answer.content.decode()


def test_a_viewer_sees_projects_without_buttons(viewer: Any) -> None:
    html = _page(viewer)
    assert 'data-project="shop"' in html and "partially running" in html and "unmanaged" in html
    assert "/adopt/" not in html and "modal-stop-" not in html


def test_an_admin_gets_the_actions_and_the_adopt_form(env_admin: Any) -> None:
    html = _page(env_admin)
    local = local_environment().pk
    assert f"/projects/{local}/shop/adopt/" in html and f'id="modal-delete-{local}-shop"' in html
    form = _page(env_admin, f"/projects/{local}/shop/adopt/")
    assert 'id="repositoryId"' in form and 'value="compose.yaml"' in form


def test_the_adopt_form_names_a_missing_repository(admin: Any) -> None:
    client = Client()
    client.force_login(admin)
    answer = client.post(
        f"/projects/{local_environment().pk}/shop/adopt/", {"name": "shop", "composePath": "compose.yaml"}
    )
    assert answer.status_code == 200
    assert 'data-error-for="repositoryId"' in answer.content.decode()
