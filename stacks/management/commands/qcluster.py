"""`manage.py qcluster`: django-q2's worker cluster as a dockhand node runs it.

Started by `serve` (which holds the node lock and ran start-up recovery) it adds a
graceful stop and runs the clock (`serve` sets DOCKHAND_RUN_CLOCK for it: the clock's
checks then share no process with a web request). Run alone, as a worker node in
scale-out, it is a node of its own: it takes the node lock, runs the same start-up
recovery and runs the clock (the reaper and the schedules), so the work of a dead node
is taken back and run again by whichever nodes are alive.

On SIGTERM or Ctrl-C the stop is announced to the node's workers (`dockhand.node`): a
running deploy may finish within DOCKHAND_STOP_GRACE seconds, or it is stopped, ends
`interrupted` and runs again on the next start; queued work waits for that start.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections
from django_q.cluster import Cluster
from django_q.management.commands import qcluster

from dockhand.node import AlreadyRunning, node_lock_inherited, node_lock_take, stop_announce
from stacks.services.clock import start_clock
from stacks.services.recovery import recover_after_restart


# django-q2 ships no types: its command is `Any` to mypy.
class Command(qcluster.Command):  # type: ignore[misc]
    help = "Run the worker cluster (alone: with start-up recovery and the clock, as a node of its own)."

    def handle(self, *args: Any, **options: Any) -> None:
        alone = not node_lock_inherited()
        if alone:
            try:
                node_lock_take()
            except AlreadyRunning as exc:
                raise CommandError(str(exc)) from exc
            recover_after_restart()
            connections.close_all()  # the cluster forks: no process shares a connection
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = Cluster()
        cluster_stop = cluster.sig_handler

        def _stop(signum: int, frame: Any) -> None:
            stop_announce(settings.STOP_GRACE)
            cluster_stop(signum, frame)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        cluster.start()
        # After the cluster's start: this process forks nothing from here on (the
        # sentinel forks the workers), so no child is forked with the clock's thread.
        clock = start_clock() if alone or os.environ.get("DOCKHAND_RUN_CLOCK") == "1" else None
        if options.get("run_once"):
            cluster.stop()
        # The signal handler stops the cluster (in this thread, between two sleeps).
        while cluster.sentinel is not None and cluster.sentinel.is_alive():
            time.sleep(0.5)
        if clock is not None:
            clock.set()
