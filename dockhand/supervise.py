"""The foreground supervisor `serve` becomes once the product is prepared: it starts
the web processes and the worker, and stops them all on Ctrl-C or when one dies.

Plain Python without Django on purpose: `serve` execs into it, so the memory the
preparation used (migrations, checks, every app module) is given back, and what stays
resident for the product's lifetime is a few MB (benchmark #7).

    python -m dockhand.supervise <grace seconds> <processes as JSON>

where the JSON maps each process's name to `{"argv": [...], "fds": [...], "env": {...}}`:
the file numbers it inherits besides the node lock (a web process's listening socket)
and the variables set for it alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _start(spec: dict[str, Any], keep: tuple[int, ...]) -> subprocess.Popen[bytes]:
    # Each child leads its own process group, so a terminal's Ctrl-C reaches only this
    # supervisor, which then stops each group as a whole (qcluster's worker processes
    # included) instead of racing the children's own signal handling.
    env = {**os.environ, **spec.get("env", {})}
    fds = (*keep, *spec.get("fds", ()))
    return subprocess.Popen(spec["argv"], start_new_session=True, pass_fds=fds, env=env)


def supervise(grace: float, commands: dict[str, dict[str, Any]]) -> int:
    # The node lock (dockhand.node) is an open file each child inherits: held while any lives.
    inherited = os.environ.get("DOCKHAND_NODE_LOCK_FD")
    keep = (int(inherited),) if inherited else ()
    procs = {name: _start(spec, keep) for name, spec in commands.items()}
    # The listening sockets now live in the web processes alone: a web process that
    # dies takes its port with it instead of leaving it bound by the supervisor.
    for spec in commands.values():
        for fd in spec.get("fds", ()):
            os.close(fd)
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    # Whichever ends first, by a signal or by dying, takes the others down too.
    while not stopping and all(p.poll() is None for p in procs.values()):
        time.sleep(0.2)
    # SIGTERM to each leader only: qcluster's sentinel stops its own workers and hangs
    # if they are signalled behind its back.
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print("a process did not stop in time; killing it", file=sys.stderr)
        # Whatever the group leader left behind (a stuck worker process) goes too.
        _signal_group(p, signal.SIGKILL)
        p.wait()
    failed = [name for name, p in procs.items() if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
    if failed and not stopping:
        print(f"dockhand stopped because the {' and '.join(failed)} process exited", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    return supervise(float(argv[0]), json.loads(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
