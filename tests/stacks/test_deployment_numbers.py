"""Deployments are numbered per stack: each stack's history reads #1, #2, #3 whatever
the other stacks do, on every path that makes one, and no two of a stack share a
number even when several processes make them at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from gitsync.models import Repository
from stacks.models import Deployment, GitStack
from stacks.services.lock import lock_ask_followup, lock_release, lock_take_for
from stacks.services.stacks import local_environment

ROOT = Path(__file__).resolve().parents[2]


def _stack(name: str) -> GitStack:
    repo = Repository.objects.create(name=f"r-{name}", url=f"https://git.example.test/{name}.git")
    return GitStack.objects.create(name=name, environment=local_environment(), repository=repo, project_name=name)


@pytest.mark.django_db
def test_two_stacks_each_count_from_one() -> None:
    shop, cart = _stack("shop"), _stack("cart")
    made = [Deployment.objects.create(stack=stack, trigger="api") for stack in (shop, shop, cart, shop, cart)]
    assert [(d.stack_id, d.number) for d in made] == [
        (shop.pk, 1),
        (shop.pk, 2),
        (cart.pk, 1),
        (shop.pk, 3),
        (cart.pk, 2),
    ]


@pytest.mark.django_db
def test_a_follow_up_takes_the_next_number() -> None:
    stack = _stack("web")
    first = Deployment.objects.create(stack=stack, trigger="webhook")
    lock_take_for(stack, first)
    assert lock_ask_followup(stack, "webhook")
    followup = lock_release(stack, first.pk)
    assert followup is not None and followup.number == 2


@pytest.mark.django_db
def test_the_api_shows_the_number_next_to_the_id(api: APIClient) -> None:
    stack = _stack("api")
    Deployment.objects.create(stack=stack, trigger="api")
    second = Deployment.objects.create(stack=stack, trigger="api")
    body = api.get(f"/api/deployments/{second.pk}").json()
    assert list(body)[:2] == ["id", "number"] and body["number"] == 2
    listed = api.get(f"/api/git/stacks/{stack.pk}/deployments").json()["data"]
    assert [d["number"] for d in listed] == [2, 1]


@pytest.mark.django_db
def test_pages_show_the_stacks_number(client: Any, admin: Any) -> None:
    other, stack = _stack("other"), _stack("shown")
    for _ in range(3):
        Deployment.objects.create(stack=other, trigger="api")
    mine = Deployment.objects.create(stack=stack, trigger="api")
    client.force_login(admin)
    page = client.get(f"/deployments/{mine.pk}/").content.decode()
    assert "Deployment #1" in page and f"Deployment #{mine.pk}" not in page
    history = client.get(f"/stacks/{stack.pk}/").content.decode()
    assert f'href="/deployments/{mine.pk}/">#1</a>' in history


def test_a_sync_and_a_rollback_are_numbered(api: APIClient, app_repo: Any, make_stack: Any) -> None:
    stack = make_stack(app_repo)
    other = make_stack(app_repo)
    first = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    app_repo.commit({"README.md": "second\n"}, "second")
    second = api.post(f"/api/git/stacks/{stack['id']}/sync?force=true", {}, format="json").json()
    assert first["deployed"] and second["deployed"], (first, second)
    back = api.post(f"/api/git/stacks/{stack['id']}/rollback", {}, format="json")
    assert back.status_code in (200, 201, 202), back.content
    numbers = [d["number"] for d in api.get(f"/api/git/stacks/{stack['id']}/deployments").json()["data"]]
    assert numbers == [3, 2, 1]
    third = api.post(f"/api/git/stacks/{other['id']}/sync", {}, format="json").json()
    assert api.get(f"/api/deployments/{third['deploymentId']}").json()["number"] == 1


# Several processes (web, worker, more web processes on PostgreSQL) make deployments
# of one stack at the same moment: each takes its own number.
MAKER = """
import sys
import django
django.setup()
from stacks.models import Deployment
stacks = [int(s) for s in sys.argv[1].split(",")]
for i in range(int(sys.argv[2])):
    Deployment.objects.create(stack_id=stacks[i % len(stacks)], trigger="api")
"""
SETUP = """
import json
import django
django.setup()
from gitsync.models import Repository
from stacks.models import Environment, GitStack
repo = Repository.objects.create(name="r", url="https://git.example.test/r.git")
local = Environment.objects.get(name="local")
made = [GitStack.objects.create(name=n, environment=local, repository=repo, project_name=n).pk for n in ("a", "b")]
print(json.dumps(made))
"""
CHECK = """
import json
import django
django.setup()
from stacks.models import Deployment
rows = Deployment.objects.order_by("id").values_list("stack_id", "number")
found = {}
for stack_id, number in rows:
    found.setdefault(str(stack_id), []).append(number)
print(json.dumps(found))
"""


def _python(data: Path, *args: str) -> subprocess.Popen[str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKHAND_", "DJANGO_")) and k not in {"DATABASE_URL", "PYTHONPATH"}
    }
    env = {**inherited, "DJANGO_SETTINGS_MODULE": "dockhand.settings", "DOCKHAND_DATA_DIR": str(data)}
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _done(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, f"{out}\n{err}"
    return out


def test_processes_making_deployments_at_once_never_share_a_number(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _done(_python(data, "manage.py", "migrate", "--no-input"))
    stacks = json.loads(_done(_python(data, "-c", SETUP)).strip().splitlines()[-1])
    each, processes = 30, 4
    makers = [_python(data, "-c", MAKER, ",".join(map(str, stacks)), str(each)) for _ in range(processes)]
    for maker in makers:
        _done(maker)
    found = json.loads(_done(_python(data, "-c", CHECK)).strip().splitlines()[-1])
    per_stack = each * processes // 2
    assert sorted(found) == sorted(str(s) for s in stacks)
    for numbers in found.values():
        assert sorted(numbers) == list(range(1, per_stack + 1))
