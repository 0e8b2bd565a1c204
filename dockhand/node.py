"""This node's processes and their data directory: one dockhand per data directory (the
node lock), a stop announced to its workers, and proving what a pid now is.

The node lock is an `flock` on `run/node.lock`, taken by `serve` (or a `qcluster` run
alone) and inherited, as an open file, by every process it starts: it is held as long
as any of them lives. So a restart after the supervisor died alone is refused instead
of starting a second worker cluster beside the live one, and start-up recovery (which
ends orphaned compose runs) only ever runs when no process of the old node is left.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from django.conf import settings

# Set for the processes `serve` starts: the number of the inherited node-lock file.
LOCK_FD_VARIABLE = "DOCKHAND_NODE_LOCK_FD"


class AlreadyRunning(Exception):
    """Another dockhand holds this data directory."""


def _run_dir() -> Path:
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    return Path(settings.RUN_DIR)


def node_lock_take() -> int:
    """Take the node lock for this process and every process it starts (the file stays
    open and inheritable); AlreadyRunning naming the holder when it is held. Returns the
    file number, to pass on to children through LOCK_FD_VARIABLE."""
    path = _run_dir() / "node.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = path.read_text().strip() or "unknown"
        os.close(fd)
        raise AlreadyRunning(
            f"dockhand is already running on {settings.DATA_DIR} (process {holder}); stop it first"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    os.set_inheritable(fd, True)
    return fd


def node_lock_inherited() -> bool:
    """Whether this process was started by a `serve` that holds the node lock."""
    return LOCK_FD_VARIABLE in os.environ


# A stop in progress: its deadline (seconds since the epoch) in a file of the run
# directory, so that every worker process of the node sees it, whichever process was
# signalled. Cleared when the node starts.
def _stop_file() -> Path:
    return _run_dir() / "stopping"


def stop_announce(grace: float) -> None:
    """The node is stopping: running deploys may go on for `grace` seconds more."""
    _stop_file().write_text(str(time.time() + grace))


def stop_deadline() -> float | None:
    """When the stop announced for this node must be over; None while none is."""
    try:
        return float(_stop_file().read_text())
    except (OSError, ValueError):
        return None


def stop_clear() -> None:
    _stop_file().unlink(missing_ok=True)


def start_time(pid: int) -> int | None:
    """When the process `pid` started (clock ticks since boot, /proc/<pid>/stat field
    22): with the pid, it names one process for good, as a reused pid has another start
    time. None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after its end.
    return int(stat.rsplit(")", 1)[1].split()[19])
