"""The stacks of a list, each built once per version of its row.

Listing 1,000 stacks built 1,000 model instances (Django's converters, then
Model.__init__) and wrote each one out, on every request: ~100 µs a stack, five times
the 10-stack list (benchmark #5), although between two lists almost no row changes.
Here the list first reads each row as one text the database writes: a JSON array of
all its columns, equal exactly when the row is. Equal to the text this process saw
last time for that stack: the stack is a copy of the instance built then, and the
memo kept for that row (what the caller wrote out from it) still holds. The stacks
whose text changed, by save() or by update() of any column, are read again in full
(with their text, so an entry always matches its row) and start with an empty memo.
Nothing from another table is kept: environments and overrides are read every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import JSONField, QuerySet, TextField
from django.db.models.base import ModelState
from django.db.models.functions import Cast, JSONArray

from stacks.models import Environment, GitStack, StackEnvVar
from stacks.services import table_clock

_COLUMNS = [f.attname for f in GitStack._meta.concrete_fields]  # PostgreSQL takes up to 100
_TEXT = "listed_row_text"  # the annotation that carries a row's text
# Values a caller can change in place: each copy gets its own.
_JSON = [f.attname for f in GitStack._meta.concrete_fields if isinstance(f, JSONField)]


@dataclass(frozen=True)
class _Row:
    text: str  # the row as the database wrote it out (_written)
    stack: GitStack  # handed out only to readers (`shared`), else copied: nothing may change it
    memo: dict[Any, Any]
    nested: frozenset[str]  # JSON columns with lists or dicts inside (copied deeply)

    @classmethod
    def built(cls, stack: GitStack) -> _Row:
        text = stack.__dict__.pop(_TEXT)  # the annotation is not a field: not copied
        nested = frozenset(name for name in _JSON if _has_containers(getattr(stack, name)))
        return cls(text, stack, {}, nested)


# (database alias, pk) → the row last seen. Read and written by request threads at
# once: a lookup or a store is one dict operation, and a _Row is never changed.
_ROWS: dict[tuple[str, int], _Row] = {}
_BY_ID = 500  # changed rows read again by id, at most (more: by the list's query)
# (database, SQL, parameters) of a list → (the stacks table's mark, the rows it listed):
# a reference a stack (the rows are _ROWS's, shared). Read-only once stored.
_LISTS: dict[tuple[str, str, tuple[Any, ...]], tuple[int, list[_Row]]] = {}
_QUERIES = 64
_MOST = 20_000  # entries kept while no list shows every stack (~4 KB each)


@dataclass(frozen=True)
class Listed:
    stacks: list[GitStack]
    env_vars: dict[int, list[StackEnvVar]]  # each stack's overrides, by stack id
    # By stack id: a dict that lives exactly as long as the stack's row is unchanged,
    # for what is worked out from the row alone. Its values are shared between
    # requests and threads: store finished values, never change one.
    memos: dict[int, dict[Any, Any]]


def stacks_listed(stacks: QuerySet[GitStack], *, shared: bool = False) -> Listed:
    """The stacks of a list with their environments, overrides and row memos: three
    queries, and a fourth for the stacks whose row changed since the last. Overrides are read by hand, not by prefetch_related, which builds a
    queryset per stack (a third of the 1,000-stack list's time, benchmark #5).

    `shared`: the caller only reads the stacks (the API list writes them out), so it
    is given the kept instances themselves, not copies: a copy was a sixth of the
    1,000-stack list's CPU. Each still gets the environment this call read, set on
    it; a list running beside it may set the one it read, as fresh."""
    plain = stacks.select_related(None).prefetch_related(None)
    rows = _rows(plain)
    listed = [row.stack for row in rows] if shared else [_copy(row) for row in rows]
    environments = Environment.objects.in_bulk({s.environment_id for s in listed})
    environment = GitStack._meta.get_field("environment")
    for stack in listed:
        # As `stack.environment = …` would, without the descriptor's checks (~2 µs a stack).
        environment.set_cached_value(stack, environments[stack.environment_id])
    overrides: dict[int, list[StackEnvVar]] = {s.id: [] for s in listed}
    # A subquery, not 1,000 parameters: compiling those cost more than running it.
    for var in StackEnvVar.objects.filter(stack_id__in=plain.values("pk")).order_by("stack_id", "pk"):
        if var.stack_id in overrides:  # a stack added between the two queries is not listed
            overrides[var.stack_id].append(var)
    return Listed(listed, overrides, {row.stack.id: row.memo for row in rows})


def _written() -> Cast:
    """Every column of a stack's row as one JSON array (a text in both backends)."""
    return Cast(JSONArray(*_COLUMNS), output_field=TextField())


def _rows(stacks: QuerySet[GitStack]) -> list[_Row]:
    db = stacks.db  # a property that asks the router: once, not once a row
    query = stacks.annotate(**{_TEXT: _written()}).values_list("pk", _TEXT)
    # On SQLite: the same list of the same, unchanged table is the rows kept for it.
    mark = table_clock.read(db)  # first: what is read after it is at least as new
    key = _list_key(db, query) if mark is not None else None
    kept = _LISTS.get(key) if key is not None else None
    if kept is not None and kept[0] == mark:
        return kept[1]
    texts = list(query)
    found = {pk: row for pk, text in texts if (row := _ROWS.get((db, pk))) is not None and row.text == text}
    missing = [pk for pk, _ in texts if pk not in found]
    if missing:
        # A few by id; many (the first list) by the list's own query, not an id each.
        again = GitStack.objects.using(db).filter(pk__in=missing) if len(missing) <= _BY_ID else stacks
        for stack in again.annotate(**{_TEXT: _written()}):
            found[stack.id] = _ROWS[(db, stack.id)] = _Row.built(stack)
    _forget_deleted(stacks, [pk for pk, _ in texts])
    # A stack deleted between the two reads is not listed.
    rows = [found[pk] for pk, _ in texts if pk in found]
    if key is not None and mark is not None:  # (a key is made only with a mark)
        if len(_LISTS) >= _QUERIES:
            _LISTS.clear()  # lists of many different filters and pages: start again
        # The rows themselves, not their ids: each was checked against a text read after
        # the mark, while _ROWS may since hold a row another list read under another mark.
        _LISTS[key] = (mark, rows)
    return rows


def _list_key(db: str, query: QuerySet[Any]) -> tuple[str, str, tuple[Any, ...]] | None:
    """The list's database, SQL and parameters; None for a query that can match nothing
    (a user of no environment), which Django never sends to the database."""
    try:
        sql, params = query.query.sql_with_params()
    except EmptyResultSet:
        return None
    return db, sql, tuple(params)


def _copy(row: _Row) -> GitStack:
    """A new instance with the same field values, for the caller to use as it likes.
    Model.__init__ (what from_db runs) costs ~17 µs; this is a dict copy, with the
    JSON values copied too (flat ones, the usual, by the C copy)."""
    new = GitStack.__new__(GitStack)
    new.__dict__ = values = row.stack.__dict__.copy()
    for name in _JSON:
        value = values[name]
        if name in row.nested:
            values[name] = _detached(value)
        elif isinstance(value, (list, dict)):
            values[name] = value.copy()
    state = values["_state"] = ModelState()
    state.adding, state.db = False, row.stack._state.db
    return new


def _has_containers(value: Any) -> bool:
    inside = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(isinstance(v, (list, dict)) for v in inside)


def _detached(value: Any) -> Any:
    """The caller's own copy of a JSON value, all the way down."""
    if isinstance(value, list):
        return [_detached(v) for v in value]
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


def _forget_deleted(stacks: QuerySet[GitStack], pks: list[int]) -> None:
    """A list of every stack (no filter, no page) holds all the stacks there are: the
    entries of any other were deleted. Lists that never show every stack (a user's
    environments, a page) cannot tell; past _MOST entries they keep only their own."""
    query = stacks.query
    whole = not query.where and query.low_mark == 0 and query.high_mark is None
    if len(_ROWS) <= (len(pks) if whole else _MOST):
        return
    db = stacks.db
    seen = {(db, pk) for pk in pks}
    for key in list(_ROWS):  # a copy: other threads add entries meanwhile
        if key not in seen and (key[0] == db or not whole):
            _ROWS.pop(key, None)
