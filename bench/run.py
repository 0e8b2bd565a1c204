"""dockhand benchmarks (`make bench`): each figure of issue #7 against its baseline,
written to BENCHMARKS.md. `bench/run.py 1 2` runs only those figures (and prints
them, leaving BENCHMARKS.md alone)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import cron, disk, lists, live, push, sync, webhooks  # noqa: E402
from bench.harness import Report  # noqa: E402
from bench.world import world  # noqa: E402


def main(argv: list[str]) -> None:
    only = {int(a) for a in argv}
    report = Report(command="make bench")
    with world() as w:
        if not only or only & {1, 2, 8, 9}:
            with w.product("sync") as app:
                try:
                    if not only or only & {1, 2}:
                        sync.run(w, app, report)
                    if not only or 9 in only:
                        push.run(w, app, report)
                    if not only or 8 in only:
                        disk.run(w, app, report)
                finally:
                    app.remove_projects()
        if not only or 3 in only:
            with w.product("cron") as app:
                try:
                    cron.run(w, app, report)
                finally:
                    app.remove_projects()  # the clock may deploy a stack before set-up marks it deployed
        if not only or 4 in only:
            # Step 17's web tier: two processes, as DOCKHAND_WEB_PROCESSES=2 sets on this
            # 2-core machine (the default starts two from four cores up).
            with w.product("webhooks", {"DOCKHAND_WEB_PROCESSES": str(webhooks.WEB_PROCESSES)}) as app:
                try:
                    webhooks.run(w, app, report)
                finally:
                    app.remove_projects()  # the first push deployed its stack
        if not only or 5 in only or 7 in only:
            lists.run(w, report)
        if not only or 6 in only:
            live.run(w, report)
    if not only:
        report.write(ROOT / "BENCHMARKS.md", (ROOT / "bench" / "notes.md").read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
