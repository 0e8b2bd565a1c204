"""Hardening of the real product (`make run`): a private data dir, request bodies refused
by size before they are read, host names, and TLS behind a trusted proxy with
DOCKHAND_PUBLIC_URL."""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import GIT_TOKEN, GIT_USER, need, unique_stack_name
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product, web_pids

ADMIN_PASSWORD = "harden-Admin-pass-6203"
PUBLIC = "https://dockhand.example"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("harden") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def client(product: Product) -> ApiClient:
    return ApiClient(product.url, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def behind_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """Served as https://dockhand.example by a TLS proxy on this machine."""
    need("make", shutil.which("make") is not None)
    env = {"DOCKHAND_PUBLIC_URL": PUBLIC, "DOCKHAND_TRUSTED_PROXIES": "127.0.0.1"}
    with running_product(tmp_path_factory.mktemp("harden-tls") / "data", ADMIN_PASSWORD, env) as running:
        running.wait_healthy(60)
        yield running


def _web_pids(product: Product) -> list[int]:
    found = web_pids(product.proc.pid)
    assert found
    return found


def _peak_kib(pid: int) -> int:
    """The process's resident-memory high-water mark (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def test_a_streamed_body_is_refused_before_the_web_process_holds_it(product: Product) -> None:
    # Whichever web process takes the connection, none may hold the body.
    webs = _web_pids(product)
    before = {pid: _peak_kib(pid) for pid in webs}

    def two_hundred_mib() -> Iterator[bytes]:
        chunk = b"x" * MiB
        for _ in range(200):
            yield chunk

    # A generator body goes chunked, without Content-Length: counted as it arrives.
    refused = requests.post(
        f"{product.url}/api/auth/login",
        data=two_hundred_mib(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert refused.status_code == 413
    assert refused.json() == {"error": f"Request body too large: {10 * MiB} bytes at most", "code": "too_large"}
    # Nothing like the body was ever resident (it was 858 MB for 700 MB before).
    after = {pid: _peak_kib(pid) for pid in webs}
    assert all(after[pid] - before[pid] < 40 * 1024 for pid in webs), (before, after)
    assert requests.get(f"{product.url}/api/health", timeout=10).status_code == 200


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(product: Product) -> None:
    with socket.create_connection(("127.0.0.1", product.port), timeout=10) as conn:
        conn.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 700000000\r\nExpect: 100-continue\r\n\r\n"
        )
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ") and b"Request body too large" in answer
    assert b"100 Continue" not in answer


def test_a_body_under_the_limit_still_reaches_the_app(product: Product) -> None:
    big = {"username": "u" * (2 * MiB), "password": "x"}
    answer = requests.post(f"{product.url}/api/auth/login", json=big, timeout=30)
    assert answer.status_code == 400 and "username" in answer.json()["error"]


def test_a_foreign_host_is_refused_and_every_page_has_the_policy(product: Product) -> None:
    rebound = requests.get(f"{product.url}/login/", headers={"Host": "evil.example"}, timeout=10)
    assert rebound.status_code == 400 and "Unknown host" in rebound.text
    for host in (f"localhost:{product.port}", f"127.0.0.1:{product.port}"):
        page = requests.get(f"{product.url}/login/", headers={"Host": host}, timeout=10)
        assert page.status_code == 200
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_is_the_products_alone(product: Product, client: ApiClient, git_server: Any) -> None:
    """0700, and 0600 for what is in it (the SQLite file and its WAL were 0644); only the
    files of a working copy stay readable, for containers that mount them as another
    user (and the directory keeps everyone else out)."""
    compose = (
        "services:\n  app:\n"
        f"    image: {dockersupport.IMAGE}\n    pull_policy: never\n"
        '    user: "65534:65534"\n'
        '    command: ["sh", "-c", "cat /srv/page.txt; sleep 3600"]\n'
        "    stop_grace_period: 1s\n"
        "    volumes: [./page.txt:/srv/page.txt:ro]\n"
    )
    repo = git_server.create_repo(f"harden-{unique_stack_name()}", {"compose.yaml": compose, "page.txt": "mounted\n"})
    cred = client.post(
        "/api/git/credentials",
        {
            "name": "harden",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    stack = client.post(
        "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": cred["id"]}
    ).json()
    try:
        deployed = client.post(f"/api/git/stacks/{stack['id']}/sync")
        assert deployed.status_code == 200 and deployed.json()["deployed"] is True, deployed.text
        name = dockersupport.containers(stack["projectName"])[0]["Names"]
        for _ in range(20):
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            if logs.stdout or logs.stderr:
                break
            time.sleep(0.5)
        assert logs.stdout == "mounted\n", logs.stderr

        data = product.data_dir
        assert _mode(data) == 0o700
        for name in ("dockhand.sqlite3", "dockhand.sqlite3-wal", "dockhand.sqlite3-shm", "secret_key"):
            assert _mode(data / name) == 0o600, name
        working_copy = next((data / "stacks").iterdir())
        open_to_others = [
            f"{path.relative_to(data)} {oct(_mode(path))}"
            for path in data.rglob("*")
            if not path.is_symlink()
            and _mode(path) & 0o077
            and not (path.is_relative_to(working_copy) and not path.is_relative_to(working_copy / ".git"))
        ]
        assert open_to_others == []
    finally:
        dockersupport.remove_project(stack["projectName"])


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent(behind_tls: Product) -> None:
    login = requests.post(
        f"{behind_tls.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10
    )
    assert login.status_code == 200
    cookies = {cookie.name: cookie for cookie in login.cookies}
    assert cookies["sessionid"].secure and cookies["csrftoken"].secure
    # HSTS on what came over TLS, as the trusted proxy says; never on plain http.
    tls = {"X-Forwarded-Proto": "https"}
    assert "Strict-Transport-Security" not in requests.get(f"{behind_tls.url}/login/", timeout=10).headers
    hsts = requests.get(f"{behind_tls.url}/login/", headers=tls, timeout=10).headers["Strict-Transport-Security"]
    assert hsts.startswith("max-age=31536000")

    # The dashboard's own calls, as the browser sends them through the proxy.
    session = {
        **tls,
        "Cookie": f"sessionid={cookies['sessionid'].value}; csrftoken={cookies['csrftoken'].value}",
        "X-CSRFToken": login.json()["csrfToken"],
        "Origin": PUBLIC,
        "Referer": f"{PUBLIC}/stacks/",
    }
    created = requests.post(
        f"{behind_tls.url}/api/git/stacks?check=false",
        json={"stackName": unique_stack_name(), "url": "https://e.test/a.git", "webhookEnabled": True},
        headers=session,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    hook = f"{PUBLIC}/api/git/stacks/{created.json()['id']}/webhook"
    # Whatever Host the request names, what is shown is the public URL.
    assert created.json()["webhookUrl"] == hook
    page = requests.get(f"{behind_tls.url}/stacks/{created.json()['id']}/", headers=session, timeout=10)
    assert page.status_code == 200 and f'value="{hook}"' in page.text

    assert requests.get(f"{behind_tls.url}/login/", headers={"Host": "dockhand.example"}, timeout=10).ok
    assert requests.get(f"{behind_tls.url}/login/", headers={"Host": "evil.example"}, timeout=10).status_code == 400
