"""#10's user, in a process of its own: `python -m bench.probe <url> <path> <password>
<start>` logs in, then from `start` (epoch seconds) asks for `path` every EVERY seconds,
one request at a time as an open page would, until a line (or EOF) on stdin; then
prints [[when sent, seconds to the answer], …] as JSON.

Not a thread of the benchmark: that process also serves git (tests/support/gitserver.py,
a threaded HTTP server), and during the clock's minute its threads, answering the
`ls-remote`s, would hold the GIL a probe thread waits on there, timing the benchmark
instead of the product."""

from __future__ import annotations

import json
import sys
import threading
import time

from tests.support.product import ApiClient

EVERY = 0.020


def main(url: str, path: str, password: str, start: float) -> None:
    client = ApiClient(url, "admin", password)
    stop = threading.Event()

    def until_told() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=until_told, daemon=True).start()
    stop.wait(max(0.0, start - time.time()))
    times: list[tuple[float, float]] = []
    due = time.time()
    while not stop.is_set():
        sent = time.time()
        response = client.get(path)
        times.append((sent, time.time() - sent))
        assert response.status_code == 200, response.status_code
        due = max(due + EVERY, time.time())
        stop.wait(max(0.0, due - time.time()))
    json.dump(times, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
