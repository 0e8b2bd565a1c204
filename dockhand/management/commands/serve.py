"""Run everything a user needs in the foreground: migrations, the first admin, the
Daphne web server and the django-q2 cluster; Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, create the first admin, then run the web server and the worker together."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("ensure_admin")
        for message in checks.run_checks(tags=["dockhand"], include_deployment_checks=True):
            self.stderr.write(f"warning: {message.msg} ({message.id}) {message.hint or ''}")
        procs = {
            "web": subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    settings.BIND_HOST,
                    "-p",
                    str(settings.BIND_PORT),
                    "dockhand.asgi:application",
                ]
            ),
            "worker": subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR),
        }
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
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        failed = [name for name, p in procs.items() if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed and not stopping:
            raise SystemExit(f"dockhand stopped because the {' and '.join(failed)} process exited")
