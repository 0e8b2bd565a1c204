"""Run everything a user needs in the foreground: migrations, the first admin, the
Daphne web server and the django-q2 cluster; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import BaseCommand

from gitsync.services.recovery import recover_after_restart
from gitsync.services.schedules import run_clock

# How long the web server and the worker get to finish in-flight work on shutdown.
GRACE_SECONDS = 20


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class Command(BaseCommand):
    help = "Migrate, create the first admin, then run the web server and the worker together."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("ensure_admin")
        recover_after_restart()
        for message in checks.run_checks(tags=["dockhand"], include_deployment_checks=True):
            self.stderr.write(f"warning: {message.msg} ({message.id}) {message.hint or ''}")
        web = [sys.executable, "-m", "daphne", "-b", settings.BIND_HOST, "-p", str(settings.BIND_PORT)]
        # Each child leads its own process group, so a terminal's Ctrl-C reaches only
        # this supervisor, which then stops each group as a whole (qcluster's worker
        # processes included) instead of racing the children's own signal handling.
        procs = {
            "web": subprocess.Popen([*web, "dockhand.asgi:application"], start_new_session=True),
            "worker": subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, start_new_session=True
            ),
        }
        # The auto-sync clock: a thread here, beside the processes it supervises, so
        # scheduled checks start on the minute whatever the workers are busy with.
        clock_stop = threading.Event()
        clock = threading.Thread(target=run_clock, args=(clock_stop,), name="auto-sync-clock", daemon=True)
        clock.start()
        self.stdout.write(f"dockhand is running on http://{settings.BIND} (Ctrl-C stops it)")
        stopping = False

        def _stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        # Whichever ends first, by a signal or by dying, takes the other one down too.
        while not stopping and all(p.poll() is None for p in procs.values()):
            time.sleep(0.2)
        clock_stop.set()
        # SIGTERM to each leader only: qcluster's sentinel stops its own workers and
        # hangs if they are signalled behind its back.
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + GRACE_SECONDS
        for p in procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write("a process did not stop in time; killing it")
            # Whatever the group leader left behind (a stuck worker process) goes too.
            _signal_group(p, signal.SIGKILL)
            p.wait()
        failed = [name for name, p in procs.items() if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed and not stopping:
            raise SystemExit(f"dockhand stopped because the {' and '.join(failed)} process exited")
