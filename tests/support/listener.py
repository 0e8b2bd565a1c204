"""A git-looking HTTP server on 127.0.0.1 that asks for a password and keeps every
connection and Authorization header it gets: where a credential must not go."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any


class Listener:
    def __init__(self) -> None:
        self.connections = 0
        self.authorizations: list[str] = []  # decoded `user:secret` of each Basic header
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                given = self.headers.get("Authorization", "")
                if given.startswith("Basic "):
                    listener.authorizations.append(base64.b64decode(given[6:]).decode(errors="replace"))
                # Ask for credentials as a git server does: git then sends what it holds.
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            def process_request(self, request: socket | tuple[bytes, socket], client_address: Any) -> None:
                listener.connections += 1
                super().process_request(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def prefix(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
