"""#8 disk used by a stack's working copy of a repository with a long history, against a
full `git clone` of it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.harness import Report, Row
from bench.world import Running, World, compose_file
from tests.support.gitserver import TestRepo

COMMITS = 2000


def _long_history(repo: TestRepo) -> None:
    """COMMITS commits of incompressible data, written by fast-import in one go."""
    stream = []
    for i in range(COMMITS):
        blob = os.urandom(1500).hex()
        message = f"change {i}"
        stream.append(
            f"commit refs/heads/{repo.branch}\ncommitter b <b@example.test> {1_700_000_000 + i} +0000\n"
            f"data {len(message)}\n{message}\n"
            + (f"from refs/heads/{repo.branch}^0\n" if i == 0 else "")
            + f"M 644 inline history.txt\ndata {len(blob)}\n{blob}\n"
        )
    subprocess.run(["git", "fast-import", "--quiet"], input="".join(stream).encode(), cwd=repo.work, check=True)
    subprocess.run(["git", "reset", "-q", "--hard", repo.branch], cwd=repo.work, check=True)


def _size(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def run(world: World, app: Running, report: Report) -> None:
    repo = world.repo()
    _long_history(repo)
    repo.commit({"compose.yaml": compose_file("disk")}, "after a long history")
    stack = app.stack(repo)
    assert app.client.post(f"/api/git/stacks/{stack['id']}/sync").json()["deployed"] is True
    full = world.tmp / "full-clone"
    subprocess.run(["git", "clone", "-q", world.authed_url(repo), str(full)], check=True)
    baseline = _size(full)
    ours = _size(app.product.data_dir / "stacks" / str(stack["id"]))
    ratio = ours / baseline
    report.add(
        Row(
            8,
            f"disk per working copy, {COMMITS + 2} commits of history",
            f"full clone {baseline / 2**20:.1f} MiB",
            f"{ours / 2**20:.2f} MiB",
            f"ratio {ratio:.3f}",
            "≤ 0.3",
            ratio <= 0.3,
        )
    )
