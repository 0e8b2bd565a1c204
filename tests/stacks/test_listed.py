"""The stacks list keeps each stack's row between lists (stacks/services/listed.py):
what it shows must still follow every change to the row, however it is made."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from gitsync.models import Repository
from stacks.models import Environment, GitStack, StackEnvVar
from stacks.services import listed as listed_module
from stacks.services.listed import stacks_listed
from stacks.services.stacks import local_environment, stack_create

pytestmark = pytest.mark.django_db


def _stack(name: str) -> GitStack:
    repo = Repository.objects.get_or_create(name="r", url="https://git.example.test/r.git")[0]
    return stack_create(fields={"name": name, "repository": repo, "branch": "main"})


def _mine() -> dict[tuple[str, int], Any]:
    pks = set(GitStack.objects.values_list("pk", flat=True))
    return {key: row for key, row in listed_module._ROWS.items() if key[1] in pks}


def test_an_unchanged_row_keeps_its_memo_and_any_change_to_it_starts_a_new_one() -> None:
    stack = _stack("one")
    first = stacks_listed(GitStack.objects.filter(pk=stack.pk))
    first.memos[stack.pk]["seen"] = "yes"
    again = stacks_listed(GitStack.objects.filter(pk=stack.pk))
    assert again.memos[stack.pk] is first.memos[stack.pk]
    assert again.stacks[0] is not first.stacks[0]  # each caller gets its own instance

    # update() leaves updated_at alone: only the whole row can tell that it changed.
    GitStack.objects.filter(pk=stack.pk).update(sync_status="failed", sync_error="boom")
    changed = stacks_listed(GitStack.objects.filter(pk=stack.pk))
    assert changed.memos[stack.pk] == {}
    assert (changed.stacks[0].sync_status, changed.stacks[0].sync_error) == ("failed", "boom")

    # Back to the old values is still a new row to it (a new memo), never the old one.
    GitStack.objects.filter(pk=stack.pk).update(sync_status=stack.sync_status, sync_error="")
    reverted = stacks_listed(GitStack.objects.filter(pk=stack.pk))
    assert reverted.memos[stack.pk] is not first.memos[stack.pk] and "seen" not in reverted.memos[stack.pk]


def test_listed_stacks_are_what_the_orm_loads_and_changing_one_changes_nothing_kept() -> None:
    stack = _stack("two")
    GitStack.objects.filter(pk=stack.pk).update(
        watch_paths=["app"], deployed_config_hashes={"app": "h1", "nested": {"in": ["x"]}}, last_sync=timezone.now()
    )
    StackEnvVar.objects.create(stack=stack, key="K", value="v")
    stacks_listed(GitStack.objects.all())  # fills the entry
    listed = stacks_listed(GitStack.objects.all())
    loaded = GitStack.objects.get(pk=stack.pk)
    got = listed.stacks[0]
    for field in GitStack._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(loaded, field.attname), field.name
    assert got.environment == local_environment() and not got._state.adding
    assert [v.key for v in listed.env_vars[stack.pk]] == ["K"]

    got.name = "renamed in memory"
    got.watch_paths.append("mutated")  # a copy's lists and dicts are its own to change
    got.deployed_config_hashes["app"] = "mutated"
    got.deployed_config_hashes["nested"]["in"].append("mutated")  # all the way down
    fresh = stacks_listed(GitStack.objects.all()).stacks[0]
    assert (fresh.name, fresh.watch_paths) == ("two", ["app"])
    assert fresh.deployed_config_hashes == {"app": "h1", "nested": {"in": ["x"]}}
    StackEnvVar.objects.create(stack=stack, key="L", value="w")  # another table: read each time
    assert [v.key for v in stacks_listed(GitStack.objects.all()).env_vars[stack.pk]] == ["K", "L"]


def test_a_reader_is_given_the_kept_stacks_with_the_environment_it_read() -> None:
    stack = _stack("shared")
    first = stacks_listed(GitStack.objects.filter(pk=stack.pk), shared=True)
    again = stacks_listed(GitStack.objects.filter(pk=stack.pk), shared=True)
    assert again.stacks[0] is first.stacks[0]  # no copy: the API list only reads them
    assert stacks_listed(GitStack.objects.filter(pk=stack.pk)).stacks[0] is not first.stacks[0]
    # The environment is another table's row: read by every list, never kept with the stack.
    Environment.objects.filter(pk=stack.environment_id).update(name="renamed", docker_host="tcp://10.9.9.9:2375")
    shown = stacks_listed(GitStack.objects.filter(pk=stack.pk), shared=True).stacks[0].environment
    assert (shown.name, shown.docker_host) == ("renamed", "tcp://10.9.9.9:2375")
    GitStack.objects.filter(pk=stack.pk).update(branch="other")  # a changed row: a new instance
    assert stacks_listed(GitStack.objects.filter(pk=stack.pk), shared=True).stacks[0].branch == "other"


def test_many_changed_rows_are_read_again_by_the_lists_own_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listed_module, "_BY_ID", 0)
    stacks = [_stack(f"page{i}") for i in range(4)]
    page = stacks_listed(GitStack.objects.order_by("pk")[1:3])
    assert [s.name for s in page.stacks] == ["page1", "page2"]
    GitStack.objects.update(sync_error="changed")
    again = stacks_listed(GitStack.objects.order_by("pk")[1:3])
    assert [(s.name, s.sync_error) for s in again.stacks] == [("page1", "changed"), ("page2", "changed")]
    assert all(again.memos[s.pk] is not page.memos[s.pk] for s in stacks[1:3])


def test_deleted_stacks_are_forgotten_by_the_next_list_of_every_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    kept, gone, other = _stack("kept"), _stack("gone"), _stack("other")
    stacks_listed(GitStack.objects.all())
    assert set(_mine()) == {(GitStack.objects.db, s.pk) for s in (kept, gone, other)}
    gone_key = (GitStack.objects.db, gone.pk)
    gone.delete()
    # A filtered list cannot tell a deleted stack from one it does not show.
    stacks_listed(GitStack.objects.filter(pk=kept.pk))
    assert gone_key in listed_module._ROWS
    stacks_listed(GitStack.objects.all())
    assert gone_key not in listed_module._ROWS and len(_mine()) == 2
    # Lists that never show every stack keep only their own once there are too many.
    monkeypatch.setattr(listed_module, "_MOST", 1)
    GitStack.objects.filter(pk=kept.pk).update(sync_error="read again")  # (not the list kept for the table)
    stacks_listed(GitStack.objects.filter(pk=kept.pk))
    assert (GitStack.objects.db, other.pk) not in listed_module._ROWS
    assert (GitStack.objects.db, kept.pk) in listed_module._ROWS


def test_the_api_list_follows_changes_made_behind_the_models_back(
    api: APIClient, admin: Any, docker_image: str
) -> None:
    stack = _stack("three")
    body = api.get("/api/git/stacks").json()
    assert api.get("/api/git/stacks").json() == body  # the second from the memo
    assert body == [api.get(f"/api/git/stacks/{stack.pk}").json()]

    GitStack.objects.filter(pk=stack.pk).update(sync_error="disk full", last_commit="c" * 40)
    StackEnvVar.objects.create(stack=stack, key="ADDED", value="1")
    (shown,) = api.get("/api/git/stacks").json()
    assert (shown["syncError"], shown["lastCommit"]) == ("disk full", "c" * 40)
    assert [v["key"] for v in shown["envVars"]] == ["ADDED"]
    assert [shown] == [api.get(f"/api/git/stacks/{stack.pk}").json()]
