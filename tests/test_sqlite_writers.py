"""On SQLite, the threads of one process take turns writing on a lock of their own
and never meet SQLite's busy handler (which sleeps up to 100 ms a look: the p99 of a
webhook burst, benchmark #4)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3.base import DatabaseWrapper as StockWrapper

from dockhand.sqlite.base import DatabaseWrapper

THREADS, ROUNDS = 8, 25


def _settings(path: Path) -> dict[str, Any]:
    from django.db import connections

    return {
        **connections["default"].settings_dict,  # (PostgreSQL under tests/scaleout: only its defaults)
        "ENGINE": "dockhand.sqlite",
        "NAME": str(path),
        # busy_timeout 0: a writer that meets SQLite's lock fails at once instead of
        # sleeping, so any contention between this process's threads shows.
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=0;", "timeout": 20,
                    "transaction_mode": "IMMEDIATE"},
    }  # fmt: skip


def _hammer(wrapper_class: type[StockWrapper], path: Path) -> list[Exception]:
    setup = wrapper_class(_settings(path), alias="setup")
    setup.cursor().execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    setup.close()
    failures: list[Exception] = []
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        db = wrapper_class(_settings(path), alias=f"writer-{n}")
        db.ensure_connection()
        start.wait()
        try:
            for i in range(ROUNDS):
                db._start_transaction_under_autocommit()  # as atomic() begins on SQLite
                db.cursor().execute("INSERT INTO t (v) VALUES (%s)", [f"{n}-{i}-tx"])
                db.cursor().execute("UPDATE t SET v = v WHERE id = 1")
                db.commit()
                db.cursor().execute("INSERT INTO t (v) VALUES (%s)", [f"{n}-{i}-auto"])  # autocommit
        except Exception as exc:
            failures.append(exc)
            db.rollback()
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return failures


def test_concurrent_writers_of_one_process_never_meet_sqlites_lock(tmp_path: Path, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        assert _hammer(DatabaseWrapper, tmp_path / "queued.sqlite3") == []
        check = DatabaseWrapper(_settings(tmp_path / "queued.sqlite3"), alias="check")
        cursor = check.cursor()
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone()[0] == THREADS * ROUNDS * 2
        check.close()


def test_without_the_queue_they_do(tmp_path: Path, django_db_blocker: Any) -> None:
    """What the test above would see with Django's own SQLite backend."""
    with django_db_blocker.unblock():
        failures = _hammer(StockWrapper, tmp_path / "stock.sqlite3")
    assert failures and all("locked" in str(f) for f in failures)
