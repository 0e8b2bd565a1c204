"""Queries compiled once per process, then only run with other parameters.

Compiling a queryset (Django's SQLCompiler: the select list, deferred columns,
joins) costs more than running it when it reads one row by key on a hot path: for a
push to a stack's webhook it was a third of the web process's CPU under load
(benchmark #4, bench/notes.md). A `Prepared` query is compiled the first time a
database runs it, with marker values where its parameters go; after that its SQL is
executed with the real values, and the rows go through that compiler's converters
and `select_related` populators exactly as the queryset's own rows would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=Model)

# Stand-ins for the parameters while compiling: values no real call passes.
_MARKERS = (-7_310_000_001, -7_310_000_002, -7_310_000_003)


@dataclass(frozen=True)
class _Compiled:
    compiler: SQLCompiler
    sql: str
    slots: tuple[int, ...]  # for each SQL parameter: which argument goes there (-1: keep)
    kept: tuple[Any, ...]  # the compiled parameters (the ones kept are used as they are)
    init_list: list[str]
    start: int
    end: int


class Prepared(Generic[M]):
    """`Prepared(lambda a, b: Model.objects.filter(x=a, y=b))` compiles that queryset
    once per database; `.first(alias, a, b)` runs it (the first row's instance, or None).
    The arguments must only be compared with (filter values), never change the SQL."""

    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self.build = build
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str, arity: int) -> _Compiled:
        with self._lock:
            if alias not in self._compiled:
                queryset = self.build(*_MARKERS[:arity]).using(alias)
                compiler = queryset.query.get_compiler(using=alias)
                sql, params = compiler.as_sql()
                slots = tuple(_MARKERS.index(p) if p in _MARKERS[:arity] else -1 for p in params)
                if sorted(s for s in slots if s >= 0) != list(range(arity)):
                    raise ValueError("each argument must appear once in the SQL as a parameter")
                fields = compiler.klass_info["select_fields"]
                start, end = fields[0], fields[-1] + 1
                init_list = [column[0].target.attname for column in compiler.select[start:end]]
                self._compiled[alias] = _Compiled(compiler, sql, slots, tuple(params), init_list, start, end)
            return self._compiled[alias]

    def first(self, alias: str, *args: Any) -> M | None:
        compiled = self._compile(alias, len(args))
        params = [args[slot] if slot >= 0 else kept for slot, kept in zip(compiled.slots, compiled.kept, strict=True)]
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        compiler = compiled.compiler
        converted = next(iter(compiler.results_iter(results=[[row]])))
        instance: M = compiler.klass_info["model"].from_db(
            alias, compiled.init_list, converted[compiled.start : compiled.end]
        )
        # (django-stubs describe a later Django, whose populators take a fetch mode too)
        for populator in get_related_populators(compiler.klass_info, compiler.select, alias):  # type: ignore[call-arg]
            populator.populate(converted, instance)
        return instance
