"""Several web processes (DOCKHAND_WEB_PROCESSES) behind one address, in the real
product: each has its own listening socket, connections spread over them, a session
and the login limiter hold across them, and one that dies stops the product."""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import need
from tests.support.product import ApiClient, Product, running_product, web_pids

ADMIN_PASSWORD = "webtier-Admin-pass-3391"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    env = {"DOCKHAND_WEB_PROCESSES": "3"}
    with running_product(tmp_path_factory.mktemp("webtier") / "data", ADMIN_PASSWORD, env) as running:
        running.wait_healthy(60)
        yield running


def _web_pids(product: Product) -> list[int]:
    return web_pids(product.proc.pid)


def _sockets(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _tcp(port: int, state: str) -> set[int]:
    """Inodes of this machine's IPv4 sockets on local `port` in `state` (0A listen, 01 established)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found.add(int(fields[9]))
    return found


def test_each_web_process_listens_on_its_own_socket(product: Product) -> None:
    webs = _web_pids(product)
    assert len(webs) == 3
    listening = _tcp(product.port, "0A")
    assert len(listening) == 3
    assert all(len(_sockets(pid) & listening) == 1 for pid in webs)


def _kib(pid: int, *names: str) -> int:
    rollup = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return sum(int(rollup[name].split()[0]) for name in names)


def test_the_web_processes_share_the_product_their_parent_loaded(product: Product) -> None:
    # Forked after Django, the apps and every view were imported (dockhand.prefork):
    # most of each one's memory is pages it shares. Started each on its own, a web
    # process shared little beyond the interpreter's libraries (Pss ~85 % of Rss).
    webs = _web_pids(product)
    for pid in webs:
        shared, private = _kib(pid, "Shared_Clean", "Shared_Dirty"), _kib(pid, "Private_Clean", "Private_Dirty")
        assert shared > private, (pid, shared, private)
    assert len({Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] for pid in webs}) == 1


def test_connections_spread_over_the_processes_and_a_session_holds_across_them(product: Product) -> None:
    client = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    cookies = client.session.cookies
    held = []
    try:
        # Each its own connection, kept open: the kernel hands each to one process.
        for _ in range(24):
            session = requests.Session()
            session.cookies.update(cookies)
            answer = session.get(f"{product.url}/api/tokens", timeout=10)
            assert answer.status_code == 200, answer.text
            held.append(session)
        established = _tcp(product.port, "01")
        serving = [pid for pid in _web_pids(product) if _sockets(pid) & established]
        assert len(serving) >= 2, "every connection went to one web process"
    finally:
        for session in held:
            session.close()


def test_the_login_limiter_counts_across_processes(product: Product) -> None:
    answers = []
    for _ in range(12):  # new connections: spread over the processes
        with requests.Session() as session:
            answer = session.post(
                f"{product.url}/api/auth/login", json={"username": "nobody-here", "password": "wrong"}, timeout=10
            )
            answers.append(answer.status_code)
    # Ten failures allowed from one address, counted once for all processes: with a
    # count per process the eleventh would still be let through.
    assert 429 not in answers[:10] and answers[10] == 429, answers


def test_a_web_process_that_dies_stops_the_product(product: Product) -> None:
    victim = _web_pids(product)[-1]
    os.kill(victim, signal.SIGKILL)
    product.proc.wait(timeout=90)
    assert product.proc.returncode != 0
    assert "process exited" in product.log()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", product.port), timeout=2).close()
