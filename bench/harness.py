"""Measuring: interleaved baseline/subject runs, medians, ratios, and the report.

These machines are noisy and have 2 cores, so no figure is a single time: a baseline
(A) and dockhand (B) run alternately, A B A B …, after a warm-up of each, and the
report quotes medians and their ratio.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# A run either is timed here (returns None) or reports its own seconds (when it has
# setup that must not count, such as pushing the commit a changed sync will deploy).
Run = Callable[[], float | None]


def _timed(run: Run) -> float:
    start = time.perf_counter()
    own = run()
    return own if own is not None else time.perf_counter() - start


@dataclass
class Pair:
    baseline: list[float]
    subject: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.subject) / statistics.median(self.baseline)


def interleave(baseline: Run, subject: Run, *, runs: int = 5, warmup: int = 1) -> Pair:
    for _ in range(warmup):
        _timed(baseline)
        _timed(subject)
    pair = Pair([], [])
    for _ in range(runs):
        pair.baseline.append(_timed(baseline))
        pair.subject.append(_timed(subject))
    return pair


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Row:
    number: int
    figure: str
    baseline: str
    dockhand: str
    result: str
    target: str
    met: bool


@dataclass
class Report:
    command: str
    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def add(self, row: Row, *details: str) -> None:
        self.rows.append(row)
        self.details.extend(details)
        mark = "met" if row.met else "MISSED"
        print(
            f"#{row.number} {row.figure}: {row.result} [{row.baseline} / {row.dockhand}] (target {row.target}) {mark}",
            flush=True,
        )
        for line in details:
            print(f"   {line}", flush=True)

    def write(self, path: Path, notes: str) -> None:
        lines = [
            "# Benchmarks",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{self.command}` on {machine()}.",
            "Each ratio is the median of dockhand's runs over the median of the baseline's,",
            "runs interleaved (A B A B …) after a warm-up; times are medians.",
            "",
            "| # | figure | baseline | dockhand | result | target | |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted(self.rows, key=lambda r: r.number):
            mark = "met" if r.met else "**missed**"
            lines.append(
                f"| {r.number} | {r.figure} | {r.baseline} | {r.dockhand} | {r.result} | {r.target} | {mark} |"
            )
        lines += ["", "## Raw figures", "", *(f"- {d}" for d in self.details), "", notes.strip(), ""]
        path.write_text("\n".join(lines))


def machine() -> str:
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{cores} cores, {int(mem) // 1024 // 1024} GiB, Linux {platform.release()}, "
        f"Docker {docker or '?'}, Python {platform.python_version()}"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
