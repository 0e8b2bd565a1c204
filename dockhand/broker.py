"""django-q2's ORM broker, woken by each task queued instead of finding it at its next poll.

The worker's pusher asks the database for tasks every `poll` seconds (50 ms): a push's
deploy waited 25 ms on average, up to 50, before the worker even looked (bench #9 allows
dockhand ~60 ms over the raw commands in all). Here a process that queues a task also
sends one datagram, once its transaction commits, to a socket the pusher waits on
between polls: the pusher looks at once. The poll stays as it was for tasks queued
without a word (another node, django-q2's own schedules) and for a lost datagram.

The socket is in Linux's abstract namespace (no file to leave behind), named after the
data directory, so the products of one machine never wake each other. A second pusher
of the same product cannot bind it and simply polls.
"""

from __future__ import annotations

import hashlib
import select
import socket
import threading
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.brokers import orm
from django_q.conf import Conf

_sender: socket.socket | None = None
_sender_lock = threading.Lock()


def _address() -> str:
    digest = hashlib.sha256(str(settings.RUN_DIR).encode()).hexdigest()[:32]
    return f"\0dockhand-worker-wake-{digest}"


def wake() -> None:
    """Tell the pusher a task is waiting; nothing happens when none listens."""
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _sender.setblocking(False)
        try:
            _sender.sendto(b"!", _address())
        except OSError:  # no pusher listening, or its queue full of wake-ups already
            pass


class ORM(orm.ORM):  # type: ignore[misc]  # django-q2 has no type hints
    """The ORM broker with wake-ups (settings.Q_CLUSTER's `broker_class` without Redis)."""

    _listener: socket.socket | None = None
    _listening_on = ""

    def enqueue(self, task: Any) -> Any:
        queued = super().enqueue(task)
        # After the commit: woken earlier, the pusher would find nothing and wait a poll.
        transaction.on_commit(wake, using=Conf.ORM)
        return queued

    def dequeue(self) -> list[tuple[Any, Any]] | None:
        tasks = list(self.get_connection().filter(key=self.list_key, lock__lt=timezone.now())[0 : Conf.BULK])
        if not tasks:
            self._wait(Conf.POLL)
            return None
        claimed = []
        for task in tasks:
            # Another cluster may have claimed it first: only a row still as read is ours.
            if self.get_connection().filter(id=task.id, lock=task.lock).update(lock=self.timeout(task)):
                claimed.append((task.pk, task.payload))
        return claimed

    def _wait(self, seconds: float) -> None:
        """Until a wake-up arrives or `seconds` pass (the plain poll's sleep)."""
        listener = self._listen()
        if listener is None:
            select.select([], [], [], seconds)
            return
        if select.select([listener], [], [], seconds)[0]:
            try:
                while listener.recv(64):  # every wake-up sent so far: one look serves them all
                    pass
            except BlockingIOError:
                pass

    def _listen(self) -> socket.socket | None:
        address = _address()
        if self._listening_on != address:  # (the data directory changed: tests do that)
            if self._listener is not None:
                self._listener.close()
            self._listener, self._listening_on = None, address
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                listener.bind(address)
            except OSError:  # another pusher of this product listens: this one polls
                listener.close()
                return None
            listener.setblocking(False)
            self._listener = listener
        return self._listener
