"""Looking at what the code under test leaves on disk while it runs, from outside it:
a thread that looks every few milliseconds while a block runs, and a reader that never
opens a named pipe (the run directory holds the gate of a held compose,
stacks.compose.Held, that a reader would wait at, or open for compose)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def looking(look: Callable[[], None], *, every: float) -> Iterator[None]:
    """`look()` in a thread every `every` seconds while the block runs, and once more
    after it."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            look()
            done.wait(every)

    watcher = threading.Thread(target=watch, name="test-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        look()


def read_regular(path: Path) -> tuple[int, str] | None:
    """(mode, text) of a regular file; None for anything else or a file gone meanwhile."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return None
        with path.open("rb") as fh:
            return stat.S_IMODE(os.fstat(fh.fileno()).st_mode), fh.read().decode(errors="replace")
    except OSError:
        return None
