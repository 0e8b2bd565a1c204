"""dockhand benchmarks (`make bench`); results go to BENCHMARKS.md by hand.

live-output latency: compose prints a line -> it reaches a WebSocket client, in the
embedded default (SQLite, no Redis; web server and worker in separate processes).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websocket

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import docker as dockersupport  # noqa: E402
from tests.support.gitserver import start_git_server  # noqa: E402
from tests.support.product import ApiClient, Product  # noqa: E402

USER, TOKEN, PASSWORD = "bench", "bench-token-123", "bench-Admin-pass-1"


def live_output_latency() -> list[float]:
    """Milliseconds from compose printing each line to the socket receiving it."""
    tmp = Path(tempfile.mkdtemp(prefix="dockhand-bench-"))
    server = start_git_server(tmp / "git", USER, TOKEN)
    image = dockersupport.ensure_image()
    compose = f"services:\n  app:\n    image: {image}\n    pull_policy: never\n    command: ['sleep', '1']\n"
    repo = server.create_repo("bench", {"compose.yaml": compose})
    os.environ["DOCKHAND_COMPOSE_COMMAND"] = str(ROOT / "bench" / "fake_compose.sh")
    product = Product(tmp / "data", PASSWORD)
    try:
        product.wait_healthy(90)
        client = ApiClient(product.url, "admin", PASSWORD)
        cred = client.post(
            "/api/git/credentials", {"name": "b", "authType": "token", "username": USER, "token": TOKEN}
        ).json()
        stack = client.post(
            "/api/git/stacks", {"stackName": "bench", "url": repo.url, "credentialId": cred["id"]}
        ).json()
        deployment_id = client.post(f"/api/git/stacks/{stack['id']}/sync?wait=false").json()["deploymentId"]
        cookie = "; ".join(f"{k}={v}" for k, v in client.session.cookies.items())
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{product.port}/ws/deployments/{deployment_id}/",
            cookie=cookie,
            origin=product.url,
        )
        latencies: list[float] = []
        while True:
            message = json.loads(ws.recv())
            received = time.time()
            if message["type"] == "status":
                break
            parts = message["text"].split()
            if parts[:1] == ["tick"]:
                latencies.append((received - float(parts[2])) * 1000)
        ws.close()
        return latencies
    finally:
        product.interrupt()
        product.kill()
        server.stop()
        os.environ.pop("DOCKHAND_COMPOSE_COMMAND", None)


def main() -> None:
    latencies = live_output_latency()
    ordered = sorted(latencies)
    print(f"live-output latency over {len(ordered)} lines (ms):")
    print(
        f"  median {statistics.median(ordered):.1f}  p90 {ordered[int(len(ordered) * 0.9)]:.1f}  max {ordered[-1]:.1f}"
    )


if __name__ == "__main__":
    main()
