"""Run everything a user needs in the foreground: migrations, the first admin, the
Daphne web server and the django-q2 cluster (with the auto-sync clock); Ctrl-C stops
both."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dockhand.datadir import make_private
from dockhand.listen import PortInUse, listening_sockets
from dockhand.node import LOCK_FD_VARIABLE, AlreadyRunning, node_lock_take
from stacks.services.recovery import recover_after_restart

# Beyond the stop grace of a running deploy (settings.STOP_GRACE): the time to stop its
# compose (CANCEL_GRACE) and write its end, before the supervisor kills what is left.
ENDING_SECONDS = 10


class Command(BaseCommand):
    help = "Migrate, create the first admin, then run the web server and the worker together."

    def handle(self, *args: Any, **options: Any) -> None:
        # First: a dockhand still running on this data directory (its supervisor gone,
        # its web or worker alive) must not get a second worker cluster beside it, nor
        # its compose runs ended by a recovery that takes them for orphans.
        try:
            lock_fd = node_lock_take()
        except AlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
        os.environ[LOCK_FD_VARIABLE] = str(lock_fd)
        make_private(settings.DATA_DIR)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("ensure_admin")
        recover_after_restart()
        for message in checks.run_checks(tags=["dockhand"], include_deployment_checks=True):
            self.stderr.write(f"warning: {message.msg} ({message.id}) {message.hint or ''}")
        web = self._web_processes()
        worker = [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"]
        self.stdout.write(f"dockhand is running on http://{settings.BIND} (Ctrl-C stops it)")
        self.stdout.flush()
        # Become the small supervisor: the memory used to get here is given back.
        grace = settings.STOP_GRACE + settings.CANCEL_GRACE + ENDING_SECONDS
        # The auto-sync clock runs in the worker's first process, which forks nothing once
        # the cluster has started (its sentinel forks the workers) and answers no request:
        # its minute of checks (thousands of stacks, all Python) shares no GIL with a web
        # process, so it delays no page (benchmark #10), and it costs no process of its own.
        processes = json.dumps({**web, "worker": {"argv": worker, "env": {"DOCKHAND_RUN_CLOCK": "1"}}})
        supervisor = [sys.executable, "-m", "dockhand.supervise", str(grace), processes]
        os.execv(sys.executable, supervisor)  # noqa: S606 (no shell: argv as given)

    def _web_processes(self) -> dict[str, dict[str, object]]:
        """DOCKHAND_WEB_PROCESSES Daphne processes, each on its own listening socket
        (dockhand.listen), forked from one parent that loaded the product for all of
        them (dockhand.prefork); none runs the clock (the worker does, above)."""
        env = {"DOCKHAND_RUN_CLOCK": "0"}
        if ":" in settings.BIND_HOST:  # IPv6: Daphne adopts IPv4 sockets only; it binds its one itself.
            daphne = [
                "-m",
                "daphne",
                "-b",
                settings.BIND_HOST,
                "-p",
                str(settings.BIND_PORT),
                "dockhand.asgi:application",
            ]
            return {"web": {"argv": [sys.executable, *daphne], "fds": [], "env": env}}
        try:
            fds = listening_sockets(settings.BIND_HOST, settings.BIND_PORT, settings.WEB_PROCESSES)
        except PortInUse as exc:
            raise CommandError(f"{exc} (set DOCKHAND_BIND to another address)") from exc
        return {"web": {"argv": [sys.executable, "-m", "dockhand.prefork", *map(str, fds)], "fds": fds, "env": env}}
