"""The quick lane: requests that end quickly, run by a few threads per web process.

Django's ASGI handler gives every request a thread of its own. Under a burst of
webhooks, a web process ran sixteen of them at once, all wanting the one GIL: the
thread holding the database's writer turn waited among the others for it at every
SQLite call, and everyone waited for that thread (benchmark #4, bench/notes.md).
A view marked `quick` (its work is bounded: no waiting for a deploy, no outside
system called) is run instead by a small pool of threads, and the requests beyond
it wait on the event loop, where waiting costs nothing. A view that may be slow is
never marked; one that is slow only when asked to wait (`?wait=true`) is quick
only when it is not asked.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from django.conf import settings
from django.urls import Resolver404, resolve

View = TypeVar("View", bound=Callable[..., Any])

_MARK = "dockhand_quick"
_WAITS = ("", "1", "true", "yes", "on")
_KEPT_PATH = 200


def quick(view: View) -> View:
    """Mark a view whose work is bounded, for the quick lane (unless asked to wait)."""
    setattr(view, _MARK, True)
    return view


@lru_cache(maxsize=4096)
def _marked(urlconf: str, path: str) -> bool:
    """Whether the view of `path` is marked quick. Every request asks, before Django
    resolves the path again: kept per routes and path (routes never change while a
    process serves), a resolve less for a repeated path (a 404 walks every route)."""
    try:
        return bool(getattr(resolve(path, urlconf).func, _MARK, False))
    except Resolver404:
        return False


def is_quick(scope: dict[str, Any]) -> bool:
    """Whether the request of this ASGI scope goes to the quick lane."""
    path, root = scope["path"], scope.get("root_path") or ""
    path = path.removeprefix(root) if root else path
    # Kept for paths of a route's length only: a stranger's long made-up paths would
    # otherwise pin ~16 KiB each.
    marked = _marked if len(path) <= _KEPT_PATH else _marked.__wrapped__
    if not marked(settings.ROOT_URLCONF, path):
        return False
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return not any(key == "wait" and value.lower() in _WAITS for key, value in query)
