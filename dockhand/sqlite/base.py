"""SQLite with the writers of one process taking turns on a lock, not on SQLite's
busy handler.

SQLite lets one connection write at a time. Another writer waits in its busy
handler, which sleeps 1, 2, 5, 10, … up to 100 ms between looks, whether or not the
lock came free meanwhile. A burst of webhooks (benchmark #4: 32 at once, each a few
short writes) spent most of its time asleep there: p99 1.9 s. Here the request
threads of a process queue on one lock instead, and the next starts as soon as the
previous one commits. A writer in another process (the worker) is still waited for
by SQLite itself.

Atomic blocks begin IMMEDIATE (settings), so a transaction is a writer from its
BEGIN: it takes the lock there and gives it back at COMMIT or ROLLBACK. A write
statement outside a transaction takes it for that one statement.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_WRITER = threading.Lock()
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _take(timeout: float) -> None:
    if not _WRITER.acquire(timeout=timeout):
        raise OperationalError("database is locked")  # as SQLite says after its busy timeout


@contextmanager
def _turn(timeout: float) -> Iterator[None]:
    """The lock for one statement written outside a transaction."""
    _take(timeout)
    try:
        yield
    finally:
        _WRITER.release()


class _Cursor(base.SQLiteCursorWrapper):
    timeout = 5.0

    def _own_turn(self, query: str) -> Any:
        # Inside a transaction the lock is held since BEGIN. Only the statement's first
        # word is looked at: this runs for every query, reads included.
        writes = not self.connection.in_transaction and query[:8].lstrip().upper().startswith(_WRITES)
        return _turn(self.timeout) if writes else nullcontext()

    def execute(self, query: str, params: Any = None) -> Any:
        with self._own_turn(query):
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        with self._own_turn(query):
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _writing = False

    def _queued(self) -> bool:
        # The in-memory test database is one connection shared by the test's threads.
        return not self.is_in_memory_db()

    def _timeout(self) -> float:
        return float(self.settings_dict["OPTIONS"].get("timeout", 5))

    def create_cursor(self, name: str | None = None) -> Any:
        if not self._queued():
            return super().create_cursor(name)
        cursor = self.connection.cursor(factory=_Cursor)
        cursor.timeout = self._timeout()
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        if self._queued():
            _take(self._timeout())
            self._writing = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in django-stubs
        except BaseException:
            self._done_writing()
            raise

    def _done_writing(self) -> None:
        if self._writing:
            self._writing = False
            _WRITER.release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # not in django-stubs
        finally:
            if not (self.connection is not None and self.connection.in_transaction):
                self._done_writing()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._done_writing()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._done_writing()
