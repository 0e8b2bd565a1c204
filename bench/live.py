"""#6 live output: a line printed by compose → received on the deployment's websocket,
embedded (SQLite rows tailed by the web process) and with Redis (a channel-layer nudge).

`bench/fake_compose.sh` stands in for compose during `up` only and prints a line with
its own timestamp every 100 ms; the client subtracts it from its receive time.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import websocket

from bench.harness import Report, Row, percentile
from bench.world import ROOT, World
from tests.support.redisserver import RedisServer


def _latencies(world: World, name: str, extra_env: dict[str, str]) -> list[float]:
    env = {"DOCKHAND_COMPOSE_COMMAND": str(ROOT / "bench" / "fake_compose.sh"), **extra_env}
    with world.product(name, env) as app:
        stack = app.stack(world.repo(), healthTimeout=0)  # the stand-in starts no container
        deployment_id = app.client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false").json()["deploymentId"]
        cookie = "; ".join(f"{k}={v}" for k, v in app.client.session.cookies.items())
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{app.product.port}/ws/deployments/{deployment_id}/",
            cookie=cookie,
            origin=app.product.url,
            timeout=60,  # a deployment that never ends fails the figure instead of hanging it
        )
        latencies: list[float] = []
        while True:
            raw = ws.recv()
            if not raw:
                raise AssertionError("the socket closed before the deployment ended")
            message: dict[str, Any] = json.loads(raw)
            received = time.time()
            if message["type"] == "status":
                break
            if message["type"] != "line":  # the live header's state changes
                continue
            parts = message["text"].split()
            if parts[:1] == ["tick"]:
                latencies.append(received - float(parts[2]))
        ws.close()
        return latencies


def run(world: World, report: Report) -> None:
    redis = RedisServer(world.tmp)
    try:
        modes = {"embedded": {}, "Redis": {"DOCKHAND_REDIS_URL": redis.url}}
        for mode, env in modes.items():
            try:
                seen = _latencies(world, f"live-{mode.lower()}", env)
            except Exception as exc:  # reported as a miss, with why, not a lost table
                message = str(exc).splitlines()[0][:200]
                report.add(Row(6, f"live output ({mode})", "—", "no result", f"failed: {message}", "—", False))
                continue
            median, p95 = statistics.median(seen), percentile(seen, 95)
            report.add(
                Row(
                    6,
                    f"live output, compose line → websocket ({mode}, {len(seen)} lines)",
                    "—",
                    f"median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms",
                    f"median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms",
                    "median ≤ 250 ms, p95 ≤ 500 ms",
                    median <= 0.25 and p95 <= 0.5,
                )
            )
    finally:
        redis.stop()
