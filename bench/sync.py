"""#1 changed-commit sync and #2 unchanged-commit sync, `POST /sync` waiting for the
result, against the raw commands on the same repository."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path
from statistics import median
from time import perf_counter as _now

from bench.harness import Report, Row, interleave, ms
from bench.world import Running, World, compose_file


def _sh(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def run(world: World, app: Running, report: Report) -> None:
    repo = world.repo()
    stack = app.stack(repo)
    assert app.client.post(f"/api/git/stacks/{stack['id']}/sync").json()["deployed"] is True
    # The baseline: its own clone of the same repository and its own compose project.
    clone = world.tmp / "baseline-clone"
    _sh("git", "clone", "-q", "--depth=1", world.authed_url(repo), str(clone))
    project = f"{stack['projectName']}-baseline"
    app.projects.append(project)
    versions = itertools.count(1)

    def push() -> None:
        repo.commit({"compose.yaml": compose_file(str(next(versions)))}, "bench")

    def raw_deploy() -> float:
        push()
        start = _now()
        _sh("git", "fetch", "-q", "--depth=1", "--no-tags", "origin", repo.branch, cwd=clone)
        _sh("git", "checkout", "-q", "--force", "FETCH_HEAD", cwd=clone)
        _sh("docker", "compose", "-p", project, "up", "-d", "--remove-orphans", cwd=clone)
        return _now() - start

    def sync(expect_deployed: bool) -> float | None:
        if expect_deployed:
            push()
        start = _now()
        body = app.client.post(f"/api/git/stacks/{stack['id']}/sync").json()
        took = _now() - start
        assert body["success"] is True and body["deployed"] is expect_deployed, body
        return took

    changed = interleave(raw_deploy, lambda: sync(True), runs=7)
    report.add(
        Row(
            1,
            "changed-commit sync, `POST /sync` (wait)",
            f"fetch+checkout+up {ms(median(changed.baseline))}",
            ms(median(changed.subject)),
            f"ratio {changed.ratio:.2f}",
            "≤ 1.15",
            changed.ratio <= 1.15,
        ),
        f"#1 baseline s: {_fmt(changed.baseline)}",
        f"#1 dockhand s: {_fmt(changed.subject)}",
    )

    def ls_remote() -> None:
        _sh("git", "ls-remote", world.authed_url(repo), f"refs/heads/{repo.branch}")

    unchanged = interleave(ls_remote, lambda: sync(False), runs=9, warmup=2)
    report.add(
        Row(
            2,
            "unchanged-commit sync, `POST /sync` (wait)",
            f"ls-remote {ms(median(unchanged.baseline))}",
            ms(median(unchanged.subject)),
            f"ratio {unchanged.ratio:.2f}",
            "≤ 2.0",
            unchanged.ratio <= 2.0,
        ),
        f"#2 baseline s: {_fmt(unchanged.baseline)}",
        f"#2 dockhand s: {_fmt(unchanged.subject)}",
    )


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)
