"""#5 the stacks list (page and API) with 1,000 stacks against the same with 10, and
#7 resident memory of web + worker, idle and with 1,000 stacks."""

from __future__ import annotations

from pathlib import Path
from statistics import median

from bench.harness import Report, Row, interleave, ms
from bench.world import Running, World
from tests.support.product import _descendants

STACKS = 1000


def memory_mib(app: Running) -> tuple[float, float]:
    """(PSS, RSS) in MiB summed over every process of the product. PSS shares the pages
    forked worker processes have in common fairly; RSS counts them once per process."""
    pss = rss = 0
    for pid in [app.product.proc.pid, *_descendants(app.product.proc.pid)]:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in rollup:
            name, _, rest = line.partition(":")
            if name in ("Pss", "Rss"):
                kib = int(rest.split()[0])
                pss, rss = (pss + kib, rss) if name == "Pss" else (pss, rss + kib)
    return pss / 1024, rss / 1024


def run(world: World, report: Report) -> None:
    repo = world.repo()
    with world.product("few") as few, world.product("many") as many:
        idle_pss, idle_rss = memory_mib(many)
        few.stacks(repo, 10)
        many.stacks(repo, STACKS)
        for path, name in (("/stacks/", "stacks list page"), ("/api/git/stacks", "`GET /api/git/stacks`")):
            assert len(many.client.get("/api/git/stacks").json()) == STACKS
            # 15 of each: one of these 10-40 ms requests moves by a few ms with whatever else
            # the machine does, and the median of 9 moved the ratio by ±0.2 between runs.
            pair = interleave(lambda p=path: _ok(few, p), lambda p=path: _ok(many, p), runs=15, warmup=2)
            report.add(
                Row(
                    5,
                    f"{name}, {STACKS} stacks",
                    f"10 stacks {ms(min(pair.baseline))}–{ms(max(pair.baseline))}",
                    ms(median(pair.subject)),
                    f"ratio {pair.ratio:.2f}",
                    "≤ 3",
                    pair.ratio <= 3,
                )
            )
        busy_pss, busy_rss = memory_mib(many)
    for label, pss, rss, limit in (("idle", idle_pss, idle_rss, 300), (f"{STACKS} stacks", busy_pss, busy_rss, 450)):
        report.add(
            Row(
                7,
                f"memory of web + worker, {label}",
                "—",
                f"PSS {pss:.0f} MiB (RSS {rss:.0f} MiB)",
                f"{pss:.0f} MiB",
                f"≤ {limit} MB",
                pss * 1.048576 <= limit,
            )
        )


def _ok(app: Running, path: str) -> None:
    response = app.client.get(path)
    assert response.status_code == 200, response.status_code
