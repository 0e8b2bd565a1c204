"""#9 a signed GitHub push until the new container runs, on a service that stops at
once (`stop_grace_period: 0s`, so compose's stop wait hides nothing of dockhand's own
cost), against `git fetch` + `checkout` + `docker compose up -d` of the same commit.
Both are observed the same way: the clock stops when the engine runs a container of
the project with the new VERSION."""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path
from statistics import median

import docker
import requests

from bench.harness import Report, Row, interleave, ms
from bench.world import Running, World
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks

# compose up itself varies by ±100 ms a run: the median of 11 moved the ratio between
# 0.96 and 1.14 over runs of the same code on one day; 21 pairs halve that spread.
RUNS = 21


def _compose(version: str) -> str:
    return (
        "services:\n  app:\n"
        f"    image: {dockersupport.IMAGE}\n    pull_policy: never\n"
        "    command: ['sleep', '3600']\n    stop_grace_period: 0s\n"
        f"    environment:\n      VERSION: '{version}'\n"
    )


def _runs(engine: docker.DockerClient, project: str, version: str, deadline: float) -> None:
    """Return once a running container of `project` has VERSION=`version`."""
    want = f"VERSION={version}"
    while time.monotonic() < deadline:
        for container in engine.containers.list(filters={"label": f"com.docker.compose.project={project}"}):
            if container.status == "running" and want in (container.attrs["Config"]["Env"] or []):
                return
        time.sleep(0.01)
    raise AssertionError(f"{project} does not run VERSION={version}")


def _sh(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def run(world: World, app: Running, report: Report) -> None:
    engine = docker.from_env()
    repo = world.repo({"compose.yaml": _compose("0")})
    stack = app.stack(repo, webhookEnabled=True)
    assert app.client.post(f"/api/git/stacks/{stack['id']}/sync").json()["deployed"] is True
    clone = world.tmp / "push-baseline"
    _sh("git", "clone", "-q", "--depth=1", world.authed_url(repo), str(clone))
    project = f"{stack['projectName']}-baseline"
    app.projects.append(project)
    versions = itertools.count(1)
    url = f"{app.product.url}/api/git/stacks/{stack['id']}/webhook"

    def raw() -> float:
        version = str(next(versions))
        repo.commit({"compose.yaml": _compose(version)}, "bench")
        start = time.perf_counter()
        _sh("git", "fetch", "-q", "--depth=1", "--no-tags", "origin", repo.branch, cwd=clone)
        _sh("git", "checkout", "-q", "--force", "FETCH_HEAD", cwd=clone)
        _sh("docker", "compose", "-p", project, "up", "-d", "--remove-orphans", cwd=clone)
        _runs(engine, project, version, time.monotonic() + 60)
        return time.perf_counter() - start

    def pushed() -> float:
        version = str(next(versions))
        before = repo.head()
        repo.commit({"compose.yaml": _compose(version)}, "bench")
        hook = hooks.github_push(repo, stack["webhookSecret"], before=before, shas=[repo.head()])
        start = time.perf_counter()
        answer = requests.post(url, data=hook.body, headers=hook.headers, timeout=30)
        assert answer.status_code == 202, answer.text
        _runs(engine, stack["projectName"], version, time.monotonic() + 60)
        return time.perf_counter() - start

    pair = interleave(raw, pushed, runs=RUNS)
    base, ours = median(pair.baseline), median(pair.subject)
    report.add(
        Row(
            9,
            "signed push → new container running, `stop_grace_period: 0s`",
            f"fetch+checkout+up {ms(base)}",
            ms(ours),
            f"ratio {ours / base:.2f}",
            "≤ 1.10",
            ours / base <= 1.10,
        ),
        f"#9 baseline s: {' '.join(f'{v:.3f}' for v in pair.baseline)}",
        f"#9 dockhand s: {' '.join(f'{v:.3f}' for v in pair.subject)}",
    )
