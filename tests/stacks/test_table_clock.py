"""The stacks table's mark (stacks/services/table_clock.py): every write changes it, a
list reuses its rows only while it stands still, and without its triggers it vouches
for nothing. SQLite's: on PostgreSQL (the scale-out run of this suite) there is none,
and every list reads its rows' texts."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gitsync.models import Repository
from stacks.models import GitStack
from stacks.services import table_clock
from stacks.services.listed import stacks_listed
from stacks.services.stacks import stack_create

pytestmark = pytest.mark.django_db


def _no_mark_on_postgresql() -> bool:
    """On PostgreSQL: there is no mark, installing one does nothing, and a list follows
    every change by reading its rows' texts. True there (the SQLite test is not for it)."""
    if connection.vendor == "sqlite":
        return False
    stack = _stack("pg")
    table_clock.on_post_migrate(using="default")
    assert table_clock.read("default") is None
    GitStack.objects.filter(pk=stack.pk).update(sync_error="seen")
    assert [s.sync_error for s in stacks_listed(GitStack.objects.filter(pk=stack.pk), shared=True).stacks] == ["seen"]
    return True


def _stack(name: str) -> GitStack:
    repo = Repository.objects.get_or_create(name="r", url="https://git.example.test/r.git")[0]
    return stack_create(fields={"name": name, "repository": repo, "branch": "main"})


def _moves(write: Any) -> bool:
    before = table_clock.read("default")
    write()
    after = table_clock.read("default")
    assert before is not None and after is not None
    return after != before


def test_every_kind_of_write_to_the_stacks_table_changes_the_mark() -> None:
    if _no_mark_on_postgresql():
        return
    stack = _stack("one")
    assert _moves(lambda: _stack("two"))
    assert _moves(lambda: stack.record(sync_error="saved"))
    assert _moves(lambda: GitStack.objects.filter(pk=stack.pk).update(sync_error="boom"))
    with connection.cursor() as cursor:
        assert _moves(lambda: cursor.execute("UPDATE stacks_gitstack SET branch = 'dev' WHERE id = %s", [stack.pk]))
    assert _moves(lambda: GitStack.objects.filter(pk=stack.pk).delete())
    assert not _moves(lambda: GitStack.objects.filter(name="two").exists())


def test_a_list_reads_its_rows_again_only_when_the_table_changed() -> None:
    stack = _stack("listed")

    def texts_read() -> int:
        with CaptureQueriesContext(connection) as queries:
            listed = stacks_listed(GitStack.objects.all(), shared=True)
        assert [s.pk for s in listed.stacks] == [stack.pk]
        return sum("listed_row_text" in q["sql"] for q in queries.captured_queries)  # the texts query

    assert texts_read() >= 1
    # The same mark: the same rows, nothing read again (without one: read every time).
    assert texts_read() == (0 if connection.vendor == "sqlite" else 1)
    GitStack.objects.filter(pk=stack.pk).update(sync_error="changed behind the model's back")
    assert texts_read() >= 1
    assert stacks_listed(GitStack.objects.all(), shared=True).stacks[0].sync_error == "changed behind the model's back"


def test_without_its_triggers_the_mark_vouches_for_nothing_until_migrate_puts_them_back() -> None:
    if _no_mark_on_postgresql():
        return
    stack = _stack("rebuilt")
    # As when a migration rebuilds the table: SQLite drops its triggers with it.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER stacks_gitstack_clock_update")
    assert table_clock.read("default") is None
    GitStack.objects.filter(pk=stack.pk).update(sync_error="unseen by any mark")
    assert stacks_listed(GitStack.objects.all(), shared=True).stacks[0].sync_error == "unseen by any mark"
    table_clock.on_post_migrate(using="default")  # what every `migrate` runs last
    assert table_clock.read("default") is not None
    assert _moves(lambda: GitStack.objects.filter(pk=stack.pk).update(sync_error=""))


def test_migrate_gives_a_new_mark_and_leaves_a_database_without_stacks_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    if _no_mark_on_postgresql():
        return
    before = table_clock.read("default")
    table_clock.on_post_migrate(using="default")  # rows may have changed while the triggers were gone
    assert table_clock.read("default") not in (None, before)
    # `migrate stacks zero`: no stacks table to put triggers on, and no error either.
    monkeypatch.setattr(type(connection.introspection), "table_names", lambda self, *a, **k: [])
    table_clock.on_post_migrate(using="default")


def test_a_list_that_can_match_nothing_is_empty() -> None:
    _stack("not yours")  # a user of no environment lists `environment_id__in=[]`
    for _ in range(2):
        assert stacks_listed(GitStack.objects.filter(environment_id__in=[]), shared=True).stacks == []
