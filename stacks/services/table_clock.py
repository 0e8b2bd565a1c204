"""A mark SQLite changes with every write to the stacks table, for the stacks list.

The list reads each stack's row as one text to find the rows that changed since the
last list (stacks/services/listed.py); building those texts is SQLite's work, ~4 ms
for 1,000 stacks, although between two lists the table rarely changes at all. Three
triggers set a one-row table to a new random number in the same transaction as any
INSERT, UPDATE or DELETE of a stack, however it is made (save(), update(), raw SQL):
the same mark read again means the same table, and the list reuses the rows it
listed then. Random, not counted: a rolled-back transaction or a database file
restored from a backup would bring a count back to a value seen with other rows.

SQLite only. A migration that rebuilds the stacks table drops its triggers, so they
are put back, with a new mark, after every `migrate` (the post_migrate signal,
stacks/apps.py); without all three, and on PostgreSQL (whose sequences are not
transactional, and a row there would serialise every transaction that writes a
stack), `read` says None and the list reads the texts every time.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connections

# Names written out, not formatted in: statements made of constants only.
_TRIGGERS = ("stacks_gitstack_clock_insert", "stacks_gitstack_clock_update", "stacks_gitstack_clock_delete")
_INSTALL = (
    "CREATE TABLE IF NOT EXISTS stacks_gitstack_clock (n INTEGER NOT NULL)",
    "INSERT INTO stacks_gitstack_clock (n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM stacks_gitstack_clock)",
    # A migration may have changed rows while the triggers were gone: a new mark.
    "UPDATE stacks_gitstack_clock SET n = random()",
    "CREATE TRIGGER IF NOT EXISTS stacks_gitstack_clock_insert AFTER INSERT ON stacks_gitstack"
    " BEGIN UPDATE stacks_gitstack_clock SET n = random(); END",
    "CREATE TRIGGER IF NOT EXISTS stacks_gitstack_clock_update AFTER UPDATE ON stacks_gitstack"
    " BEGIN UPDATE stacks_gitstack_clock SET n = random(); END",
    "CREATE TRIGGER IF NOT EXISTS stacks_gitstack_clock_delete AFTER DELETE ON stacks_gitstack"
    " BEGIN UPDATE stacks_gitstack_clock SET n = random(); END",
)
# With its triggers only: a mark that nothing changes would vouch for a stale list.
_READ = (
    "SELECT n, (SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN"
    " ('stacks_gitstack_clock_insert', 'stacks_gitstack_clock_update', 'stacks_gitstack_clock_delete'))"
    " FROM stacks_gitstack_clock"
)


def install(connection: Any) -> None:
    """Create the mark and its triggers where they are missing, and change the mark
    (SQLite; else nothing)."""
    if connection.vendor != "sqlite" or "stacks_gitstack" not in connection.introspection.table_names():
        return  # (`migrate stacks zero` removed it)
    with connection.cursor() as cursor:
        for statement in _INSTALL:
            cursor.execute(statement)


def read(db: str) -> int | None:
    """The mark now, read in a statement of its own: read it BEFORE what it vouches for
    (what is read after it is then at least as new). None where there is none."""
    connection = connections[db]
    if connection.vendor != "sqlite":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute(_READ)
            row = cursor.fetchone()
    except DatabaseError:  # not installed yet (SQLite: the transaction goes on)
        return None
    return int(row[0]) if row and row[1] == len(_TRIGGERS) else None


def on_post_migrate(using: str = "default", **_: Any) -> None:
    install(connections[using])
