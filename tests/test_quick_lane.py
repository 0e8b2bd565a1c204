"""The quick lane (dockhand/lanes.py): views marked quick run in a small pool of
threads per web process, through the real ASGI handler, and keep their database
connections; other requests are not held up by a busy lane."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path

from dockhand import asgi, lanes

_running = 0
_most = 0
_count = threading.Lock()
_connections: list[Any] = []


def _work(request: HttpRequest) -> JsonResponse:
    global _running, _most
    with _count:
        _running += 1
        _most = max(_most, _running)
    # What the thread's previous request left of its connection's life (None: none open).
    left = None if connection.connection is None else connection.close_at - time.monotonic()
    try:
        time.sleep(float(request.GET.get("sleep", "0")))
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        _connections.append(connection.connection)  # kept alive: ids stay unique
        body = {"thread": threading.current_thread().name, "connection": id(connection.connection), "left": left}
        return JsonResponse(body)
    finally:
        with _count:
            _running -= 1


_left_over: contextvars.ContextVar[str] = contextvars.ContextVar("left_over", default="nothing")


def _leaves_something(request: HttpRequest) -> JsonResponse:
    seen = _left_over.get()
    _left_over.set(f"from request {request.GET['n']}")  # and never reset
    return JsonResponse({"seen": seen})


quick_view = lanes.quick(lambda request: _work(request))
urlpatterns = [path("quick", quick_view), path("plain", _work), path("leaves", lanes.quick(_leaves_something))]


def _scope(url: str) -> dict[str, Any]:
    where, _, query = url.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": where, "raw_path": where.encode(), "root_path": "", "query_string": query.encode(),
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip


async def _get(url: str) -> tuple[int, dict[str, Any], float]:
    """Status, JSON body and seconds taken of one request through dockhand's ASGI handler."""
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)  # the client stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.monotonic()
    await asgi.django_asgi(_scope(url), receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), time.monotonic() - started


def _shut(pool: ThreadPoolExecutor, threads: int) -> None:
    """Close what each of the pool's threads kept open (a test database must be
    droppable at the end), then the pool."""
    all_there = threading.Barrier(threads)

    def close() -> None:
        all_there.wait(timeout=10)  # one of these on each thread
        connections.close_all()

    for done in [pool.submit(close) for _ in range(threads)]:
        done.result()
    pool.shutdown()


@pytest.fixture
def lane(monkeypatch: pytest.MonkeyPatch) -> Any:
    global _most
    _most = 0
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="quick")
    monkeypatch.setattr(asgi, "_quick", pool)
    with override_settings(ROOT_URLCONF=__name__):
        yield pool
    _shut(pool, 2)


def test_the_stack_webhook_is_quick_unless_asked_to_wait() -> None:
    assert lanes.is_quick(_scope("/api/git/stacks/7/webhook"))
    assert lanes.is_quick(_scope("/api/git/stacks/7/webhook?wait=false"))
    assert not lanes.is_quick(_scope("/api/git/stacks/7/webhook?wait=true"))
    assert not lanes.is_quick(_scope("/api/git/stacks/7/webhook?x=1&wait"))
    assert not lanes.is_quick(_scope("/api/git/stacks/7/sync"))  # may wait for a deploy
    assert not lanes.is_quick(_scope("/api/git/repositories/7/webhook"))  # discovers: fetches the repository
    assert not lanes.is_quick(_scope("/no/such/page"))


def test_a_path_is_resolved_once_for_the_lane_and_again_for_other_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved: list[str] = []
    real = lanes.resolve
    monkeypatch.setattr(lanes, "resolve", lambda path, urlconf: resolved.append(path) or real(path, urlconf))
    lanes._marked.cache_clear()
    for _ in range(3):
        assert lanes.is_quick(_scope("/api/git/stacks/8/webhook"))
        assert not lanes.is_quick(_scope("/no/such/page/8"))
    assert resolved == ["/api/git/stacks/8/webhook", "/no/such/page/8"]
    long = "/no/" + "x" * 300
    assert not lanes.is_quick(_scope(long)) and not lanes.is_quick(_scope(long))
    assert resolved[2:] == [long, long]  # a made-up long path is not kept
    with override_settings(ROOT_URLCONF=__name__):  # other routes: asked again
        assert lanes.is_quick(_scope("/quick")) and not lanes.is_quick(_scope("/api/git/stacks/8/webhook"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_quick_requests_run_at_most_the_pool_at_once_and_keep_their_connections(lane: Any) -> None:
    async def burst() -> list[tuple[int, dict[str, Any], float]]:
        return await asyncio.gather(*(_get("/quick?sleep=0.1") for _ in range(8)))

    answers = asyncio.run(burst())
    assert [status for status, _, _ in answers] == [200] * 8
    assert _most == 2  # the other six waited on the event loop, not in threads of their own
    threads = {body["thread"] for _, body, _ in answers}
    assert len(threads) == 2 and all(name.startswith("quick") for name in threads)
    # Each pool thread used one connection for all of its requests (opened once), left
    # open for the next: a minute to live (other threads close theirs, CONN_MAX_AGE=0;
    # the test database in memory ignores a close, so the time left is what shows it).
    by_thread: dict[str, set[int]] = {}
    for _, body, _ in answers:
        by_thread.setdefault(body["thread"], set()).add(body["connection"])
    assert all(len(ids) == 1 for ids in by_thread.values()), by_thread
    kept = [body["left"] for _, body, _ in answers if body["left"] is not None]
    assert len(kept) == 6 and all(left > 30 for left in kept), kept


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_busy_lane_does_not_hold_up_other_requests_nor_a_waiting_one(lane: Any) -> None:
    async def mixed() -> list[tuple[int, dict[str, Any], float]]:
        slow = [asyncio.ensure_future(_get("/quick?sleep=0.5")) for _ in range(4)]
        await asyncio.sleep(0.05)  # the lane is full, two more wait for it
        others = await asyncio.gather(_get("/plain"), _get("/quick?wait=true"))
        await asyncio.gather(*slow)
        return list(others)

    (plain, waiting) = asyncio.run(mixed())
    for status, body, took in (plain, waiting):
        assert status == 200
        assert not body["thread"].startswith("quick")
        assert took < 0.4, took  # not behind the lane's second round (0.5 s + 0.5 s)


def test_what_a_quick_request_sets_in_its_context_does_not_reach_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quick")  # both requests on one thread
    monkeypatch.setattr(asgi, "_quick", pool)
    try:
        with override_settings(ROOT_URLCONF=__name__):
            first = asyncio.run(_get("/leaves?n=1"))
            second = asyncio.run(_get("/leaves?n=2"))
    finally:
        _shut(pool, 1)
    assert first[:2] == (200, {"seen": "nothing"})
    assert second[:2] == (200, {"seen": "nothing"})
