"""The web tier's listening sockets, made by `serve` before it becomes the supervisor.

Several Daphne processes serve one address (DOCKHAND_WEB_PROCESSES, default: one per
core): each gets its own socket bound to the same port with SO_REUSEPORT, so the kernel
spreads new connections over the processes evenly. One socket shared by all would not:
the first process to wake accepts every waiting connection at once, and a client that
keeps its connection alive (a forge's webhook sender, wrk) stays on that one process.

Bound here, before anything starts, so a port in use is one clear error from `serve`
instead of a web process dying after the worker started.
"""

from __future__ import annotations

import os
import socket

BACKLOG = 1024


class PortInUse(Exception):
    """The address cannot be bound (taken, or not this machine's)."""


def listening_sockets(host: str, port: int, count: int) -> list[int]:
    """`count` IPv4 sockets listening on host:port, inheritable, by file number; PortInUse
    when the address cannot be bound. (Daphne adopts only IPv4 sockets: an IPv6 address
    is bound by its one web process itself, see `serve`.)"""
    fds: list[int] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                sock.close()
                raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
            sock.listen(BACKLOG)
            fd = sock.detach()
            os.set_inheritable(fd, True)
            fds.append(fd)
    except PortInUse:
        for fd in fds:
            os.close(fd)
        raise
    return fds
