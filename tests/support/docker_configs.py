"""Docker configs in tests, watched from outside the code that uses them: which files
this process opens (Python's audit events, every thread), and what each compose process
is given as its DOCKER_CONFIG, read from /proc while it runs."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.watching import looking, read_regular

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


@dataclass
class RunConfig:
    """A DOCKER_CONFIG a process ran with: the modes its directory had, and every
    registry (with its `auth`) its config.json held while looked at."""

    modes: set[int] = field(default_factory=set)
    auths: dict[str, str] = field(default_factory=dict)


def _docker_configs() -> set[str]:
    """The DOCKER_CONFIG of each process this user may read the environment of."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        for entry in environ.split(b"\0"):
            if entry.startswith(b"DOCKER_CONFIG="):
                found.add(os.fsdecode(entry.removeprefix(b"DOCKER_CONFIG=")))
    return found


def _look(where: str, seen: dict[str, RunConfig]) -> None:
    # A run started ahead waits at a named pipe: reading it would take its config.
    read = read_regular(Path(where, "config.json"))
    if read is None:
        return
    try:
        mode = stat.S_IMODE(os.stat(where).st_mode)
        auths = json.loads(read[1]).get("auths") or {}
    except (OSError, ValueError):  # gone meanwhile, or caught half written
        return
    found = seen.setdefault(where, RunConfig())
    found.modes.add(mode)
    found.auths.update({host: str(entry.get("auth")) for host, entry in auths.items()})


@contextmanager
def run_configs_seen(*roots: Path) -> Iterator[dict[str, RunConfig]]:
    """The DOCKER_CONFIG (under one of `roots`) of each process that runs while the
    block does, looked at every few milliseconds."""
    prefixes = tuple(str(root) for root in roots)
    seen: dict[str, RunConfig] = {}

    def look() -> None:
        for where in _docker_configs():
            if where.startswith(prefixes):
                _look(where, seen)

    with looking(look, every=0.005):
        yield seen
