"""SQLite with its writers taking turns on locks of their own, not on SQLite's busy
handler.

SQLite lets one connection write at a time. Another writer waits in its busy
handler, which sleeps 1, 2, 5, 10, … up to 100 ms between looks, whether or not the
lock came free meanwhile. A burst of webhooks (benchmark #4: 32 at once, each a few
short writes) spent most of its time asleep there: p99 1.9 s. Here the request
threads of a process queue on one lock instead, and the next starts as soon as the
previous one commits.

Several processes write too (two or more web processes, the worker), and a process's
writer that met another process's lock slept in SQLite's handler while every writer
of its own process queued behind it. So the holder of a process's turn then takes
the database's: an `flock` on a file beside it (`<database>.writers`), looked at
every fraction of a millisecond while another process holds it. The kernel gives a
dead process's flock back; both turns keep the connection's timeout, and a writer
that does not get them in time fails as SQLite would ("database is locked").

Atomic blocks begin IMMEDIATE (settings), so a transaction is a writer from its
BEGIN: it takes the turn there and gives it back at COMMIT or ROLLBACK. A write
statement outside a transaction takes it for that one statement.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# Seconds between looks at another process's flock: a turn lasts a millisecond or
# two, so a look costs little and a freed lock waits at most this long.
_LOOKS = (0.0002, 0.0005, 0.001)


class _Turn:
    """The writers' turn at one database file: this process's threads one at a time
    (a threading lock), then the processes one at a time (an flock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.threads = threading.Lock()
        self._fd = -1
        self._pid = 0

    def _file(self) -> int:
        # A forked child shares its parent's open file, and so its flock: its own.
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def take(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=timeout):
            raise OperationalError("database is locked")  # as SQLite says after its busy timeout
        try:
            self._flock(deadline)
        except BaseException:
            self.threads.release()
            raise

    def _flock(self, deadline: float) -> None:
        fd = self._file()
        looks = 0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationalError("database is locked") from None
            time.sleep(_LOOKS[min(looks, len(_LOOKS) - 1)])
            looks += 1

    def give(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()


_turns: dict[str, _Turn] = {}
_turns_made = threading.Lock()


def turn_of(database: str) -> _Turn:
    """The one `_Turn` of this process for a database file."""
    with _turns_made:
        if database not in _turns:
            _turns[database] = _Turn(f"{database}.writers")
        return _turns[database]


@contextmanager
def _statement(turn: _Turn, timeout: float) -> Iterator[None]:
    """The turn for one statement written outside a transaction."""
    turn.take(timeout)
    try:
        yield
    finally:
        turn.give()


class _Cursor(base.SQLiteCursorWrapper):
    timeout = 5.0
    turn: _Turn

    def _own_turn(self, query: str) -> Any:
        # Inside a transaction the turn is held since BEGIN. Only the statement's first
        # word is looked at: this runs for every query, reads included.
        writes = not self.connection.in_transaction and query[:8].lstrip().upper().startswith(_WRITES)
        return _statement(self.turn, self.timeout) if writes else nullcontext()

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

    def _turn(self) -> _Turn:
        return turn_of(os.path.abspath(str(self.settings_dict["NAME"])))

    def create_cursor(self, name: str | None = None) -> Any:
        if not self._queued():
            return super().create_cursor(name)
        cursor = self.connection.cursor(factory=_Cursor)
        cursor.timeout = self._timeout()
        cursor.turn = self._turn()
        return cursor

    def _start_transaction_under_autocommit(self) -> None:
        if self._queued():
            self._turn().take(self._timeout())
            self._writing = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in django-stubs
        except BaseException:
            self._done_writing()
            raise

    def _done_writing(self) -> None:
        if self._writing:
            self._writing = False
            self._turn().give()

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
