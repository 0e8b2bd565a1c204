"""The foreground supervisor `serve` becomes once the product is prepared: it starts
the web server and the worker, and stops both on Ctrl-C or when either dies.

Plain Python without Django on purpose: `serve` execs into it, so the memory the
preparation used (migrations, checks, every app module) is given back, and what stays
resident for the product's lifetime is a few MB (benchmark #7).

    python -m dockhand.supervise <grace seconds> <web argv …> -- <worker argv …>
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def supervise(grace: float, commands: dict[str, list[str]]) -> int:
    # Each child leads its own process group, so a terminal's Ctrl-C reaches only this
    # supervisor, which then stops each group as a whole (qcluster's worker processes
    # included) instead of racing the children's own signal handling.
    # The node lock (dockhand.node) is an open file each child inherits: held while any lives.
    inherited = os.environ.get("DOCKHAND_NODE_LOCK_FD")
    keep = (int(inherited),) if inherited else ()
    procs = {name: subprocess.Popen(argv, start_new_session=True, pass_fds=keep) for name, argv in commands.items()}
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    # Whichever ends first, by a signal or by dying, takes the other one down too.
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
    grace, rest = float(argv[0]), argv[1:]
    split = rest.index("--")
    return supervise(grace, {"web": rest[:split], "worker": rest[split + 1 :]})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
