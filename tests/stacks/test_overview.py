"""The home page is an overview (Step 12, item 7): counts by state, the stacks that need
attention and why, recent deployments across stacks, and the engines' health, each
limited to what the user may see."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from stacks.models import Environment, GitStack

pytestmark = pytest.mark.django_db
UNREACHABLE = "http://127.0.0.1:9/gone.git"


def _page(user: Any) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def _counts(page: str) -> dict[str, int]:
    found = re.findall(r'data-count="(\w+)"><div class="card-body py-2">\s*<div class="fs-3 fw-semibold">(\d+)', page)
    return {kind: int(n) for kind, n in found}


def test_the_overview_counts_the_stacks_and_names_what_needs_attention(
    api: Any, admin: Any, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    synced = make_stack(app_repo)
    assert api.post(f"/api/git/stacks/{synced['id']}/sync", {}, format="json").json()["deployed"] is True
    broken = api.post("/api/git/stacks?check=false", {"stackName": "broken", "url": UNREACHABLE}, format="json").json()
    api.post(f"/api/git/stacks/{broken['id']}/sync", {}, format="json")  # fails: the remote refuses
    paused = make_stack(app_repo)
    GitStack.objects.filter(pk=paused["id"]).update(auto_sync_paused=True)
    stopped = make_stack(app_repo)
    GitStack.objects.filter(pk=stopped["id"]).update(stopped_by_user=True)

    page = _page(admin)

    assert _counts(page) == {"synced": 1, "out_of_sync": 0, "failed": 1, "paused": 1, "stopped": 1}
    attention = page[page.index('id="attention"') : page.index("Recent deployments")]
    assert "broken" in attention and "last sync failed: " in attention
    assert synced["stackName"] not in attention
    recent = page[page.index('id="recent"') : page.index("Engines")]
    assert synced["stackName"] in recent and "broken" in recent
    engines = page[page.index('id="engines"') :]
    assert "local" in engines and "text-bg-success" in engines and "Docker " in engines


def test_the_overview_shows_only_what_the_user_may_see(api: Any, viewer: Any, app_repo: Any, make_stack: Any) -> None:
    other = Environment.objects.create(name="elsewhere", docker_host="tcp://127.0.0.1:9")
    hidden = make_stack(app_repo, environmentId=other.pk)
    api.post(f"/api/git/stacks/{hidden['id']}/sync", {}, format="json")  # fails: no engine there
    make_stack(app_repo)  # the only stack the viewer sees

    page = _page(viewer)

    assert hidden["stackName"] not in page and "elsewhere" not in page
    # Only `seen` counts, and it was never deployed: neither synced nor out of sync yet.
    assert _counts(page) == {"synced": 0, "out_of_sync": 0, "failed": 0, "paused": 0, "stopped": 0}
    assert "No deployments yet" in page  # the hidden stack's failed sync is not listed
    assert "local" in page[page.index('id="engines"') :]


def test_an_install_without_stacks_gets_a_first_step(admin: Any) -> None:
    page = _page(admin)
    assert "Create your first stack" in page and 'id="counts"' not in page
