"""dockhand/prepared.py: a query compiled once gives what its queryset gives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stacks.models import GitStack
from stacks.services import lock
from stacks.services.webhooks import _PUSH_READS, webhook_stack

pytestmark = pytest.mark.django_db


def test_the_webhook_stack_read_is_compiled_once_and_reads_what_its_queryset_reads(
    app_repo: Any, make_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make_stack(app_repo, webhookEnabled=True, watchPaths=["app/**"])
    stack = GitStack.objects.get(pk=made["id"])
    lock.lock_take(stack, lock.Holder.OPERATION, timedelta(minutes=5))
    assert lock.lock_ask_followup(stack, "webhook")
    webhook_stack(made["id"])  # compiled here, if no test did before
    compiled: list[str] = []
    real = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **k: compiled.append("x") or real(self, *a, **k))

    read = webhook_stack(made["id"])

    assert compiled == []
    expected = GitStack.objects.select_related("environment").only(*_PUSH_READS).get(pk=made["id"])
    assert read is not None and read.pk == expected.pk
    assert read.get_deferred_fields() == expected.get_deferred_fields()
    for name in ("name", "branch", "webhook_enabled", "webhook_secret", "watch_paths", "lock_owner", "sync_pending"):
        assert getattr(read, name) == getattr(expected, name), name
    # Converted as the ORM converts: a datetime, a JSON list, a decrypted secret, a bool.
    assert read.lock_expires == expected.lock_expires and read.lock_expires > timezone.now()
    assert read.watch_paths == ["app/**"] and read.webhook_secret == made["webhookSecret"]
    assert read.sync_pending is True
    # select_related: the environment is there, with the columns asked for, no query more.
    with CaptureQueriesContext(connection) as queries:
        assert read.environment.name == expected.environment.name
        assert read.environment.approval_required == expected.environment.approval_required
    assert queries.captured_queries == []


def test_a_stack_that_is_not_there_is_none(db: Any) -> None:
    assert webhook_stack(987_654) is None
    assert webhook_stack(2**70) is None and webhook_stack(0) is None
