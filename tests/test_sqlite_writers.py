"""On SQLite, the threads of one process take turns writing on a lock of their own
and never meet SQLite's busy handler (which sleeps up to 100 ms a look: the p99 of a
webhook burst, benchmark #4)."""

from __future__ import annotations

import sqlite3
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


# A writer process for the tests below: THREADS threads of dockhand's backend (or, with
# "no-flock", of its per-process lock alone) against the database file argv[1], each
# write a transaction; prints how many failed.
_WRITER_PROCESS = """
import sys, threading
import django
from django.conf import settings
settings.configure(USE_TZ=True)
django.setup()
from dockhand.sqlite import base
if sys.argv[2] == "no-flock":
    base._Turn._flock = lambda self, deadline: None
    base._Turn.give = lambda self: self.threads.release()
failures = []
def writer(n):
    db = base.DatabaseWrapper({"ENGINE": "dockhand.sqlite", "NAME": sys.argv[1], "OPTIONS": {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=0;", "timeout": 20,
        "transaction_mode": "IMMEDIATE"}, "TIME_ZONE": None, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
        "TEST": {}}, alias=f"w{n}")
    try:
        db.ensure_connection()
        for i in range(int(sys.argv[3])):
            db._start_transaction_under_autocommit()
            db.cursor().execute("INSERT INTO t (v) VALUES (%s)", [f"{n}-{i}"])
            db.cursor().execute("UPDATE t SET v = v WHERE id = 1")
            db.commit()
    except Exception as exc:
        failures.append(exc)
        db.rollback()
    finally:
        db.close()
threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
[t.start() for t in threads]
[t.join(60) for t in threads]
print(len(failures), flush=True)
print(*failures[:1], file=sys.stderr)
"""


def _processes(path: Path, mode: str, rounds: int = 40) -> list[int]:
    """Two writer processes started at once; the failures of each."""
    import subprocess
    import sys

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    connection.close()
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-c", _WRITER_PROCESS, str(path), mode, str(rounds)]
    started = [subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    return [int(p.communicate(timeout=120)[0].strip()) for p in started]


def test_writers_of_two_processes_take_turns_too(tmp_path: Path) -> None:
    """With SQLite's busy timeout at 0 a writer that met another process's lock would
    fail at once: none does."""
    assert _processes(tmp_path / "two.sqlite3", "flock") == [0, 0]
    check = sqlite3.connect(tmp_path / "two.sqlite3")
    assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2 * 4 * 40


def test_without_the_flock_they_meet_sqlites_lock(tmp_path: Path) -> None:
    """What the test above would see with each process's own lock alone."""
    assert sum(_processes(tmp_path / "one.sqlite3", "no-flock", rounds=200)) > 0


def test_a_turn_another_process_keeps_times_out_and_a_dead_ones_is_given_back(
    tmp_path: Path, django_db_blocker: Any
) -> None:
    import subprocess
    import sys
    import time

    from django.db.utils import OperationalError

    path = tmp_path / "held.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").connection.close()
    keeper = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)", f"{path}.writers"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert keeper.stdout is not None and keeper.stdout.readline().strip() == "held"
        with django_db_blocker.unblock():
            db = DatabaseWrapper({**_settings(path), "OPTIONS": {**_settings(path)["OPTIONS"], "timeout": 0.3}})
            started = time.monotonic()
            try:
                db.cursor().execute("INSERT INTO t DEFAULT VALUES")  # a statement outside a transaction
            except OperationalError as exc:
                assert "locked" in str(exc)
            else:
                raise AssertionError("wrote while another process held the turn")
            assert 0.3 <= time.monotonic() - started < 3
            keeper.kill()
            keeper.wait(10)
            db.cursor().execute("INSERT INTO t DEFAULT VALUES")  # the kernel gave its turn back
            db.close()
    finally:
        keeper.kill()
        keeper.wait(10)
