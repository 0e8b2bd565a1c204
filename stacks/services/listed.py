"""The stacks of a list, each built once per version of its row.

Listing 1,000 stacks built 1,000 model instances (Django's converters, then
Model.__init__) and wrote each one out, on every request: ~100 µs a stack, five times
the 10-stack list (benchmark #5), although between two lists almost no row changes.
Here each row is read as the database returns it, before any converter, and compared
column by column with the row this process saw last time for that stack. Unchanged:
the stack is a copy of the instance built then, and the memo kept for that row (what
the caller wrote out from it) still holds. Any change to any column, by save() or by
update(), makes a new entry with an empty memo. Nothing from another table is kept:
environments and overrides are read on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import JSONField, QuerySet
from django.db.models.base import ModelState
from django.db.models.sql.constants import MULTI

from stacks.models import Environment, GitStack, StackEnvVar

_COLUMNS = [f.attname for f in GitStack._meta.concrete_fields]
_PK = _COLUMNS.index(GitStack._meta.pk.attname)
# Values a caller can change in place: each copy gets its own.
_JSON = [f.attname for f in GitStack._meta.concrete_fields if isinstance(f, JSONField)]


@dataclass(frozen=True)
class _Row:
    raw: tuple[Any, ...]  # as the database driver returned it
    stack: GitStack  # never handed out, only copied: nothing may change it
    memo: dict[Any, Any]


# (database alias, pk) → the row last seen. Read and written by request threads at
# once: a lookup or a store is one dict operation, and a _Row is never changed.
_ROWS: dict[tuple[str, int], _Row] = {}
_MOST = 20_000  # entries kept while no list shows every stack (~4 KB each)


@dataclass(frozen=True)
class Listed:
    stacks: list[GitStack]
    env_vars: dict[int, list[StackEnvVar]]  # each stack's overrides, by stack id
    # By stack id: a dict that lives exactly as long as the stack's row is unchanged,
    # for what is worked out from the row alone. Its values are shared between
    # requests and threads: store finished values, never change one.
    memos: dict[int, dict[Any, Any]]


def stacks_listed(stacks: QuerySet[GitStack]) -> Listed:
    """The stacks of a list with their environments, overrides and row memos, in three
    queries. Overrides are read by hand, not by prefetch_related, which builds a
    queryset per stack (a third of the 1,000-stack list's time, benchmark #5)."""
    plain = stacks.select_related(None).prefetch_related(None)
    rows = _rows(plain)
    listed = [_copy(row.stack) for row in rows]
    environments = Environment.objects.in_bulk({s.environment_id for s in listed})
    environment = GitStack._meta.get_field("environment")
    for stack in listed:
        # As `stack.environment = …` would, without the descriptor's checks (~2 µs a stack).
        environment.set_cached_value(stack, environments[stack.environment_id])
    overrides: dict[int, list[StackEnvVar]] = {s.pk: [] for s in listed}
    # A subquery, not 1,000 parameters: compiling those cost more than running it.
    for var in StackEnvVar.objects.filter(stack_id__in=plain.values("pk")).order_by("stack_id", "pk"):
        if var.stack_id in overrides:  # a stack added between the two queries is not listed
            overrides[var.stack_id].append(var)
    return Listed(listed, overrides, {row.stack.pk: row.memo for row in rows})


def _rows(stacks: QuerySet[GitStack]) -> list[_Row]:
    compiler = stacks.query.get_compiler(using=stacks.db)
    raw = [row for chunk in compiler.execute_sql(MULTI) for row in chunk]
    if [col.target.attname for col, _, _ in compiler.select] != _COLUMNS:
        # Not the plain row (.only(), an annotation): nothing to compare it with.
        return [_Row((), stack, {}) for stack in stacks]
    found = {r[_PK]: _ROWS.get((stacks.db, r[_PK])) for r in raw}
    changed = [r for r in raw if (row := found[r[_PK]]) is None or row.raw != r]
    # Django's converters and constructor, as a queryset runs them.
    for r, values in zip(changed, compiler.results_iter(results=[changed]), strict=True):
        found[r[_PK]] = _ROWS[(stacks.db, r[_PK])] = _Row(r, GitStack.from_db(stacks.db, _COLUMNS, values), {})
    _forget_deleted(stacks, raw)
    return [row for r in raw if (row := found[r[_PK]]) is not None]


def _copy(stack: GitStack) -> GitStack:
    """A new instance with the same field values, for the caller to use as it likes.
    Model.__init__ (what from_db runs) costs ~17 µs; this is a dict copy, with the
    JSON values (lists, dicts) copied too."""
    new = GitStack.__new__(GitStack)
    new.__dict__ = values = stack.__dict__.copy()
    for name in _JSON:
        values[name] = _detached(values[name])
    state = values["_state"] = ModelState()
    state.adding, state.db = False, stack._state.db
    return new


def _detached(value: Any) -> Any:
    """The caller's own copy of a JSON value, all the way down (mostly short lists of
    strings: those are copied without a call per item)."""
    if type(value) is list:
        return [v if type(v) in _ATOMS else _detached(v) for v in value]
    if type(value) is dict:
        return {k: v if type(v) in _ATOMS else _detached(v) for k, v in value.items()}
    return value


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _forget_deleted(stacks: QuerySet[GitStack], raw: list[tuple[Any, ...]]) -> None:
    """A list of every stack (no filter, no page) holds all the stacks there are: the
    entries of any other were deleted. Lists that never show every stack (a user's
    environments, a page) cannot tell; past _MOST entries they keep only their own."""
    query = stacks.query
    whole = not query.where and query.low_mark == 0 and query.high_mark is None
    if len(_ROWS) <= (len(raw) if whole else _MOST):
        return
    seen = {(stacks.db, r[_PK]) for r in raw}
    for key in list(_ROWS):  # a copy: other threads add entries meanwhile
        if key not in seen and (key[0] == stacks.db or not whole):
            _ROWS.pop(key, None)
