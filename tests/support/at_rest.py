"""Where a secret could rest: every row of the database. For the sweeps that must find a
value kept in clear.

Tests run SQLite in memory (and, under tests/scaleout.py, PostgreSQL), so the database
is no file of the data directory there: it is read through the connection instead.
"""

from __future__ import annotations

from django.db import connection


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
