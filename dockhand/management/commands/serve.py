"""Run everything a user needs in the foreground: migrations, the first admin, the
Daphne web server (with the auto-sync clock) and the django-q2 cluster; Ctrl-C stops
both."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dockhand.datadir import make_private
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
        web = [sys.executable, "-m", "daphne", "-b", settings.BIND_HOST, "-p", str(settings.BIND_PORT)]
        worker = [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"]
        self.stdout.write(f"dockhand is running on http://{settings.BIND} (Ctrl-C stops it)")
        self.stdout.flush()
        # The web process keeps the auto-sync clock (see dockhand.asgi): it never forks,
        # and scheduled checks then start on the minute whatever the workers are doing.
        os.environ["DOCKHAND_RUN_CLOCK"] = "1"
        # Become the small supervisor: the memory used to get here is given back.
        grace = settings.STOP_GRACE + settings.CANCEL_GRACE + ENDING_SECONDS
        supervisor = [sys.executable, "-m", "dockhand.supervise", str(grace)]
        os.execv(sys.executable, [*supervisor, *web, "dockhand.asgi:application", "--", *worker])  # noqa: S606 (no shell: argv as given)
