"""Where a secret could rest: every row of the database, and every file of the data
directory while a deploy runs. For the sweeps that must find a value kept in clear.

Tests run SQLite in memory (and, under tests/scaleout.py, PostgreSQL), so the database
is no file of the data directory there: it is read through the connection instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.support.watching import looking, read_regular


def database_text() -> str:
    """Each row of each table of the default database, one `table: values…` line each."""
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            lines += [f"{table}: " + "\t".join(_text(value) for value in row) for row in cursor.fetchall()]
    return "\n".join(lines)


def _text(value: object) -> str:
    if isinstance(value, memoryview | bytes):
        return bytes(value).decode(errors="replace")
    return str(value)


@dataclass(frozen=True)
class Sighting:
    """A file of the data directory seen holding a watched value."""

    mode: int  # its permission bits
    text: str
    while_compose: bool  # a compose process ran before and after it was read (its pid file was there)


@contextmanager
def files_holding(needles: Sequence[str], *, every: float = 0.003) -> Iterator[dict[Path, Sighting]]:
    """Poll the data directory in a thread until the block ends; the dict it yields fills
    with each file seen holding one of `needles` (a sighting while compose ran is kept
    over one that was not). Removed files stay in it: check they are gone afterwards."""
    seen: dict[Path, Sighting] = {}
    with looking(lambda: _look(needles, seen), every=every):
        yield seen


def _look(needles: Sequence[str], seen: dict[Path, Sighting]) -> None:
    for path in _files(Path(settings.DATA_DIR)):
        before = _compose_running()
        read = read_regular(path)
        if read is None or not any(needle in read[1] for needle in needles):
            continue
        sighting = Sighting(mode=read[0], text=read[1], while_compose=before and _compose_running())
        if sighting.while_compose or path not in seen:
            seen[path] = sighting


def _files(root: Path) -> Iterator[Path]:
    # A working copy's .git is left out: its objects are compressed, no value shows there.
    for folder, folders, names in os.walk(root):
        folders[:] = [name for name in folders if name != ".git"]
        yield from (Path(folder) / name for name in names)


def _compose_running() -> bool:
    """Whether a compose process runs: stacks.compose keeps a pid file for each."""
    return any((Path(settings.RUN_DIR) / "compose-pids").glob("*.pid"))
