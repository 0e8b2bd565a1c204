"""Docker configs in tests, watched from outside the code that uses them: which files
this process opens (Python's audit events, every thread)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# An audit hook cannot be removed: one is installed for the process, and looks only
# while a `files_opened` block runs.
_watched: list[tuple[set[str], list[str]]] = []
_hooked = False


def _on_event(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _watched or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(args[0])
    if os.path.basename(path) != "config.json":  # (cheap first: every open of the process comes here)
        return
    real = os.path.realpath(path)
    for paths, opened in _watched:
        if real in paths:
            opened.append(real)


@contextmanager
def files_opened(paths: Iterable[Path]) -> Iterator[list[str]]:
    """Each open of these `config.json` files by this process while the block runs."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_on_event)
        _hooked = True
    watch: tuple[set[str], list[str]] = ({os.path.realpath(p) for p in paths}, [])
    _watched.append(watch)
    try:
        yield watch[1]
    finally:
        _watched.remove(watch)
