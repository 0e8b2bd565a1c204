"""The web processes, forked from one that has loaded the product once.

    python -m dockhand.prefork <fd> [<fd> …]

loads Django, the apps and every view, then forks one Daphne process per listening
socket (dockhand.listen) and waits. A web process started on its own held ~80 MiB of
its own, most of it the same modules each loaded again: forked, they share those pages
with this parent and with each other (the collector leaves them alone, dockhand.asgi
freezes them), so a web process per core fits a small host (benchmark #7).

Nothing that must be a process's own exists before the fork: no thread, no database
connection, no event loop (Twisted's starts in the child, when Daphne is imported).
To the supervisor this parent is the web tier: a signal to it reaches every child, and
a child that dies ends it, and so the product, as a web process did before.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
import threading
import traceback
from types import FrameType

# What Daphne runs on, but daphne.server (and daphne.cli, which imports it): importing
# that one starts Twisted's event loop, a process's own.
_SERVER_MODULES = [
    "autobahn.twisted.websocket",
    "daphne.access",
    "daphne.endpoints",
    "daphne.ws_protocol",
    "twisted.internet.asyncioreactor",
    "twisted.internet.endpoints",
    "twisted.internet.tcp",
]


def _load() -> None:
    """Everything a request would import, imported now, before the fork."""
    from django.db import connections
    from django.urls import get_resolver

    import dockhand.asgi  # noqa: F401 (Django, the apps, the handlers)

    get_resolver().url_patterns  # noqa: B018 (every view module)
    for name in _SERVER_MODULES:
        importlib.import_module(name)
    # A connection a module opened on import would be shared by every child: none is.
    connections.close_all()
    gc.freeze()  # what the routes added: shared with the children, never collected
    if threading.active_count() != 1:  # a fork copies only the thread that forks
        raise RuntimeError("a thread started before the web processes were forked")


def _serve(fd: int) -> int:
    """A child: Daphne on its socket, as `python -m daphne --fd <fd>` would run it."""
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(["--fd", str(fd), "dockhand.asgi:application"])
    return 0


def _fork(fd: int, others: list[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for other in others:
            os.close(other)
        code = _serve(fd)
    except BaseException:  # a child never returns into the parent's code
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str]) -> int:
    fds = [int(a) for a in argv]
    _load()
    sys.stdout.flush()  # or each child would write what is buffered again
    sys.stderr.flush()
    children = {_fork(fd, [o for o in fds if o != fd]): fd for fd in fds}
    for fd in fds:
        os.close(fd)
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = 0
    while children:
        pid, status = os.wait()
        children.pop(pid, None)
        if not stopping:
            # One web process died: the others stop, and this parent's failure tells the
            # supervisor, which stops the product (tests/e2e/test_web_tier.py).
            print(f"web process {pid} exited ({_said(status)}); stopping the others", file=sys.stderr, flush=True)
            code = 1
            _stop(signal.SIGTERM, None)
    return code


def _said(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.waitstatus_to_exitcode(status)}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
