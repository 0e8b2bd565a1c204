"""#4 signed GitHub push webhooks accepted per second by the real Daphne server, 32
concurrent clients (wrk), and their p99 latency, beside the web tier's floors measured
the same way in the same run: a 404 of the same server (Daphne and Django's
middleware, no dockhand code) and a bare Daphne (no Django). `GET /api/health` is
measured too, as before Step 17."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

from bench.harness import Report, Row
from bench.world import ROOT, Running, World
from tests.support import webhooks as hooks
from tests.support.product import free_port

SECONDS, CONNECTIONS, RUNS = 5, 32, 5
WEB_PROCESSES = 2
# Step 17's target: p99 under 200 ms, and twice the rate before it (~50/s).
P99_MS, RATE = 200, 2 * 50


# wrk stops at its deadline with 32 requests still in flight, which the product then
# finishes: a run of `/api/health` (~0.4 s each under load) kept both web processes
# busy into the first half second of the run after it, whose first requests waited
# behind them and made that run's p99. Each run starts on a product that is idle.
SETTLE_SECONDS = 1.5


def _wrk(url: str, hook_dir: Path | None) -> dict[str, str]:
    time.sleep(SETTLE_SECONDS)
    env = {"PATH": "/usr/bin:/bin", **({"BENCH_HOOK_DIR": str(hook_dir)} if hook_dir else {})}
    done = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", str(ROOT / "bench" / "webhook.lua"), url],
        capture_output=True,
        text=True,
        env=env,
        timeout=SECONDS + 60,
    )
    found = re.search(r"RESULT rate=(\S+) p50=(\S+) p99=(\S+) statuses=(\S*)", done.stdout)
    assert found, done.stdout + done.stderr
    return dict(zip(("rate", "p50", "p99", "statuses"), found.groups(), strict=True))


@contextmanager
def _bare_daphne() -> Iterator[str]:
    """Daphne serving bench/bare_asgi.py: a floor below any Django request."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.bare_asgi:application"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def run(world: World, app: Running, report: Report) -> None:
    repo = world.repo()
    stack = app.stack(repo, webhookEnabled=True)
    hook = hooks.github_push(repo, stack["webhookSecret"], before=hooks.ZERO, shas=[repo.head()])
    hook_dir = world.tmp / "hook"
    hook_dir.mkdir()
    (hook_dir / "body.json").write_bytes(hook.body)
    headers = {k: v for k, v in hook.headers.items() if k != "X-GitHub-Delivery"}
    (hook_dir / "headers.txt").write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
    health = f"{app.product.url}/api/health"
    webhook = f"{app.product.url}/api/git/stacks/{stack['id']}/webhook"
    # Not a baseline, a floor: a page that does not exist costs the web tier (Daphne,
    # Django's middleware) and nothing of dockhand's; no endpoint answers faster.
    floor = f"{app.product.url}/bench-no-such-page"
    _wrk(health, None), _wrk(webhook, hook_dir)  # warm-up
    base: list[dict[str, str]] = []
    ours: list[dict[str, str]] = []
    empty: list[dict[str, str]] = []
    bare: list[dict[str, str]] = []
    with _bare_daphne() as constant:
        for _ in range(RUNS):
            base.append(_wrk(health, None))
            ours.append(_wrk(webhook, hook_dir))
            empty.append(_wrk(floor, None))
            bare.append(_wrk(constant, None))
    rate_base = median(float(r["rate"]) for r in base)
    rate_ours = median(float(r["rate"]) for r in ours)
    rate_floor = median(float(r["rate"]) for r in empty)
    p99 = median(float(r["p99"]) for r in ours)
    p99_floor = median(float(r["p99"]) for r in empty)
    rate_bare = median(float(r["rate"]) for r in bare)
    report.add(
        Row(
            4,
            f"signed GitHub push webhooks, {CONNECTIONS} clients (wrk), {WEB_PROCESSES} web processes",
            f"floor (a 404) {rate_floor:.0f}/s, p99 {p99_floor:.0f} ms; bare Daphne {rate_bare:.0f}/s;"
            f" `/api/health` {rate_base:.0f}/s",
            f"{rate_ours:.0f}/s, p99 {p99:.0f} ms",
            f"{rate_ours / rate_floor:.0%} of the floor's rate, p99 {p99:.0f} ms",
            f"p99 < {P99_MS} ms, ≥ {RATE}/s (2× before Step 17)",
            p99 < P99_MS and rate_ours >= RATE,
        ),
        f"#4 health runs: {'; '.join(_fmt(r) for r in base)}",
        f"#4 webhook runs: {'; '.join(_fmt(r) for r in ours)}",
        f"#4 floor (a 404, no dockhand code) runs: {'; '.join(_fmt(r) for r in empty)}",
        f"#4 bare Daphne (a constant 202, no Django) runs: {'; '.join(_fmt(r) for r in bare)}",
    )


def _fmt(run: dict[str, str]) -> str:
    return f"{float(run['rate']):.0f}/s p99 {float(run['p99']):.0f} ms [{run['statuses']}]"
