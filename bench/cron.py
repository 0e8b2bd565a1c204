"""#3 5,000 stacks on 50 repositories due on the same cron minute, none changed: the
time from that minute until every one has been checked, against 5,000 `git ls-remote`
run one after another (500 timed, times ten: the full run would take minutes a run).

#10 the same minutes, seen by a user: a stack's detail (`GET /api/git/stacks/<id>`,
logged in) asked every 20 ms from REST seconds before the minute until every stack
was checked; the answers while the clock checks against those in the window before,
when it is idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from bench.harness import Report, Row, percentile
from bench.probe import EVERY
from bench.world import PASSWORD, Running, World
from tests.support.product import _descendants

ROOT = Path(__file__).resolve().parents[1]

STACKS, REPOSITORIES, RUNS = 5000, 50, 3
TIMED = 500  # of the baseline's STACKS ls-remote runs
REST = 8.0  # #10: the idle window before the minute


def _serial_ls_remote(url: str, branch: str) -> float:
    start = time.perf_counter()
    for _ in range(TIMED):
        subprocess.run(["git", "ls-remote", url, f"refs/heads/{branch}"], check=True, capture_output=True)
    return (time.perf_counter() - start) * STACKS / TIMED


def _next_minute() -> float:
    now = time.time()
    return now - now % 60 + 60


def _checked_since(app: Running, since: float) -> tuple[int, float]:
    """How many scheduled checks finished since `since`, and when the last one did."""
    stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S")
    with app.db() as db:
        count, last = db.execute(
            "SELECT count(*), max(finished_at) FROM stacks_deployment"
            " WHERE trigger = 'schedule' AND finished_at IS NOT NULL AND created_at >= ?",
            (stamp,),
        ).fetchone()
    if not last:
        return 0, 0.0
    return count, datetime.fromisoformat(last).replace(tzinfo=UTC).timestamp()


class _Prober:
    """bench/probe.py in a process of its own, asking for one stack's detail from
    `start`; `stop()` ends it and keeps (when sent, seconds to the answer) of each."""

    def __init__(self, app: Running, stack_id: int, start: float) -> None:
        argv = [sys.executable, "-m", "bench.probe", app.product.url, f"/api/git/stacks/{stack_id}", PASSWORD]
        self.proc = subprocess.Popen(
            [*argv, str(start)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.due = start + REST  # the minute
        self.times: list[tuple[float, float]] = []
        self.cpu: dict[str, float] = {}  # CPU seconds from the minute to the last check

    def stop(self) -> None:
        out, _ = self.proc.communicate("stop\n", timeout=60)
        assert self.proc.returncode == 0, self.proc.returncode
        self.times = [(sent, took) for sent, took in json.loads(out)]


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(app: Running) -> dict[str, float]:
    """CPU seconds used so far (with waited-for children: `git`, the CGI) by the web
    processes, the worker's (the clock's included) and this benchmark's own (the git
    server)."""
    used = {"web": 0.0, "worker+clock": 0.0, "bench + git server": 0.0}
    for pid in [*_descendants(app.product.proc.pid), os.getpid()]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        web = b"dockhand.prefork" in cmdline or b"daphne" in cmdline
        name = "bench + git server" if pid == os.getpid() else "web" if web else "worker+clock"
        if b"qcluster" in cmdline or name != "worker+clock":
            used[name] += sum(int(f) for f in fields[11:15]) / TICKS  # utime stime cutime cstime
    return used


def _one_minute(app: Running, probe_stack: int | None = None) -> tuple[float, _Prober | None]:
    """Wait for the next minute to fire; seconds from it until all STACKS were checked.
    With `probe_stack`: that stack's detail is asked from REST s before the minute until
    the last check (bench/probe.py)."""
    due = _next_minute()
    probe = _Prober(app, probe_stack, due - REST) if probe_stack is not None else None
    time.sleep(max(0.0, due - time.time()))
    at_minute = _cpu(app)
    deadline = due + 120
    try:
        while time.time() < deadline:
            count, last = _checked_since(app, due)
            if count >= STACKS:
                if probe:
                    probe.cpu = {k: v - at_minute[k] for k, v in _cpu(app).items()}
                return last - due, probe
            time.sleep(0.5)
    finally:
        if probe:
            probe.stop()
    raise AssertionError(f"only {_checked_since(app, due)[0]} of {STACKS} checked within 120 s")


def _split(probe: _Prober, took: float) -> tuple[list[float], list[float]]:
    """The answers to requests sent before the minute (the clock idle) and during its
    checks (from the minute until the last check finished)."""
    rest = [t for sent, t in probe.times if sent < probe.due]
    busy = [t for sent, t in probe.times if probe.due <= sent <= probe.due + took]
    return rest, busy


def _as_after_a_first_deploy(app: Running) -> None:
    """ "None changed": each stack already runs the head with its configuration, as a
    first deploy leaves it (lastCommit and the applied config of its revision), then
    gets its every-minute schedule; written by the product's own code on its database."""
    code = (
        "import django\ndjango.setup()\n"
        "from stacks.models import GitStack\nfrom stacks.services.revision import stack_config\n"
        "from gitsync import git\nfrom gitsync.services.auth import git_auth\n"
        "from stacks.services.schedules import stack_schedule_apply\n"
        "heads = {}\n"
        "for stack in GitStack.objects.select_related('environment', 'repository__credential')"
        ".prefetch_related('env_vars'):\n"
        "    r = stack.repository\n"
        "    if r.pk not in heads:\n"
        "        heads[r.pk] = git.remote_head(url=r.url, branch=stack.branch, auth=git_auth(r.credential))\n"
        "    stack.record(last_commit=heads[r.pk], applied_config=stack_config(stack), auto_update=True,"
        " auto_update_cron='* * * * *')\n"
        "    stack_schedule_apply(stack=stack)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dockhand.settings", "DOCKHAND_DATA_DIR": str(app.product.data_dir)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120)


def run(world: World, app: Running, report: Report) -> None:
    repos = [world.repo() for _ in range(REPOSITORIES)]
    stacks = []
    for repo in repos:
        # Scheduled only once all are made and marked deployed: a minute that fires
        # meanwhile would deploy them for real.
        stacks += app.stacks(repo, STACKS // REPOSITORIES)
    _as_after_a_first_deploy(app)
    repo = repos[0]
    url = world.authed_url(repo)
    _serial_ls_remote(url, repo.branch)  # warm-up of the baseline; the product's first minute is its own
    _one_minute(app)
    baseline: list[float] = []
    ours: list[float] = []
    rest: list[float] = []
    busy: list[float] = []
    cpu: list[str] = []  # who used the 2 cores while the clock checked
    when: list[tuple[float, float]] = []  # each checking request: seconds after the minute, seconds taken
    for _ in range(RUNS):
        baseline.append(_serial_ls_remote(url, repo.branch))
        took, probe = _one_minute(app, stacks[0]["id"])
        ours.append(took)
        assert probe is not None
        quiet, checking = _split(probe, took)
        rest += quiet
        busy += checking
        when += [(sent - probe.due, t) for sent, t in probe.times if probe.due <= sent <= probe.due + took]
        cpu.append(f"{took:.1f} s: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in probe.cpu.items()))
    b, o = median(baseline), median(ours)
    report.add(
        Row(
            3,
            f"{STACKS} stacks on {REPOSITORIES} repositories due on one cron minute, none changed",
            f"{STACKS} × ls-remote {b:.1f} s",
            f"all checked {o:.1f} s after the minute",
            f"ratio {o / b:.2f}",
            "≤ 0.5, inside the minute",
            o / b <= 0.5 and o < 60,
        ),
        f"#3 baseline s: {' '.join(f'{v:.1f}' for v in baseline)}",
        f"#3 dockhand s: {' '.join(f'{v:.1f}' for v in ours)}",
    )
    _report_delay(report, rest, busy, cpu, when)


def _report_delay(
    report: Report, rest: list[float], busy: list[float], cpu: list[str], when: list[tuple[float, float]]
) -> None:
    """#10: the clock's checks must not delay what users ask meanwhile (see notes.md)."""
    r50, r99, b50, b99 = median(rest), percentile(rest, 99), median(busy), percentile(busy, 99)
    report.add(
        Row(
            10,
            f"a stack's detail (`GET /api/git/stacks/<id>`) every {EVERY * 1000:.0f} ms while #3's checks run",
            f"clock idle: median {_ms(r50)}, p99 {_ms(r99)}",
            f"median {_ms(b50)}, p99 {_ms(b99)}",
            f"p99 ratio {b99 / r99:.2f}",
            "p99 ≤ 1.5× idle and < 200 ms",
            b99 <= 1.5 * r99 and b99 < 0.2,
        ),
        f"#10 idle: {len(rest)} requests, median {_ms(r50)}, p90 {_ms(percentile(rest, 90))}, p99 {_ms(r99)},"
        f" max {_ms(max(rest))}",
        f"#10 checking: {len(busy)} requests, median {_ms(b50)}, p90 {_ms(percentile(busy, 90))}, p99 {_ms(b99)},"
        f" max {_ms(max(busy))}",
        f"#10 CPU used from the minute to the last check: {'; '.join(cpu)}",
        "#10 the slowest while checking (seconds after the minute: answer): "
        + ", ".join(f"{after:.2f} s: {_ms(took)}" for after, took in sorted(when, key=lambda w: -w[1])[:10]),
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
