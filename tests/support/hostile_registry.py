"""A registry- (or Vault-) looking HTTP server on 127.0.0.1 that answers what a test tells it to, per
path (a token service's JSON list, a redirect elsewhere, an endless body), and keeps
each request it got: what a hostile repository's image host can do to dockhand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    endless: bool = False  # a body that never ends (Content-Length absent)
    trickle: bool = False  # ... sent a byte at a time, slowly


@dataclass
class HostileRegistry:
    port: int = 0
    routes: dict[str, Answer] = field(default_factory=dict)  # path (without query) -> answer
    seen: list[str] = field(default_factory=list)  # "METHOD path"
    headers: list[dict[str, str]] = field(default_factory=list)  # each request's headers

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def hostile_registry() -> Iterator[HostileRegistry]:
    registry = HostileRegistry()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, head: bool) -> None:
            registry.seen.append(f"{self.command} {self.path}")
            registry.headers.append(dict(self.headers.items()))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            answer = registry.routes.get(self.path.split("?", 1)[0], Answer(404))
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if not answer.endless:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if head:
                return
            try:
                if answer.endless and answer.trickle:
                    for _ in range(200):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.1)
                elif answer.endless:
                    chunk = b"x" * 65536
                    for _ in range(16 * 1024):  # up to 1 GiB: far more than anyone should read
                        self.wfile.write(chunk)
                else:
                    self.wfile.write(answer.body)
            except OSError:
                pass  # the client stopped reading, as it should

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_POST(self) -> None:
            self._answer(head=False)

        def do_PUT(self) -> None:
            self._answer(head=False)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    registry.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
