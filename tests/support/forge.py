"""A local forge for tests: no real GitHub, GitLab or Gitea is reachable here.

It implements exactly the endpoints `gitsync/forge.py` uses, in each forge's documented
request and answer shapes (from the forges' REST API documentation), and nothing else:

- GitHub REST v3 (API at the root): `POST /repos/{o}/{r}/statuses/{sha}` (201, the status
  with `state`), `GET /user` (`login`), `GET /user/repos?per_page&page&sort` and
  `GET /search/repositories?q&per_page&page` (`{"total_count","incomplete_results","items"}`),
  `GET /repos/{o}/{r}/branches?per_page&page` (`[{"name","commit":{"sha","url"},"protected"}]`);
  pages by `Link: <…>; rel="next"`; auth `Authorization: Bearer <token>` (or `token <token>`),
  401 `{"message": "Bad credentials"}` otherwise.
- GitLab v4 (API at `/api/v4`): `POST /projects/{id}/statuses/{sha}` (201, with `status`),
  `GET /projects?membership&search&order_by&page&per_page`,
  `GET /projects/{id}/repository/branches?search&page&per_page`; pages by `X-Next-Page`,
  `X-Page`, `X-Total`; auth `PRIVATE-TOKEN`, 401 `{"message": "401 Unauthorized"}`.
- Gitea v1 (API at `/api/v1`): `POST /repos/{o}/{r}/statuses/{sha}` (201, with `status`),
  `GET /user/repos?page&limit`, `GET /repos/search?q&page&limit` (`{"ok","data"}`),
  `GET /repos/{o}/{r}/branches?page&limit`; pages by `Link`; auth `Authorization: token <t>`.

Every request is recorded (method, path, query, JSON body, auth header as received).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BASE = {"github": "", "gitlab": "/api/v4", "gitea": "/api/v1"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorized: bool


@dataclass
class ForgeServer:
    """A forge of `kind` holding `repos` (full names, with their branches)."""

    kind: str
    token: str
    repos: dict[str, list[str]]
    login: str = "octo"
    delay: float = 0.0  # seconds before each answer (a slow forge)
    refuse_statuses: bool = False  # answer statuses 500
    ignore_page: bool = False  # a broken forge: always the first page, always "more"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def prefix(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    @property
    def api_url(self) -> str:
        return self.prefix.rstrip("/") + BASE[self.kind]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def statuses(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and "/statuses/" in r.path]

    def wait_for_statuses(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while len(self.statuses()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.statuses()

    # --- the forge ---------------------------------------------------------------

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.kind == "gitlab":
            return handler.headers.get("PRIVATE-TOKEN") == self.token
        given = handler.headers.get("Authorization", "")
        accepted = {f"token {self.token}"} | ({f"Bearer {self.token}"} if self.kind == "github" else set())
        return given in accepted

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        authorized = self._authorized(handler)
        path = split.path.removeprefix(BASE[self.kind])
        self.requests.append(Recorded(handler.command, path, query, body, authorized))
        if self.delay:
            time.sleep(self.delay)
        if not authorized:
            message = "401 Unauthorized" if self.kind == "gitlab" else "Bad credentials"
            return self._answer(handler, 401, {"message": message})
        code, answer, headers = self._route(handler.command, path, query, body, split.path)
        self._answer(handler, code, answer, headers)

    def _answer(
        self, handler: BaseHTTPRequestHandler, code: int, answer: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(answer).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, full: str
    ) -> tuple[int, Any, dict[str, str]]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and "statuses" in parts:
            return self._status(parts, body)
        if self.kind == "gitlab":
            if parts == ["projects"]:
                names = [n for n in self.repos if query.get("search", "") in n]
                return self._page([self._gitlab_project(n) for n in names], query, "per_page", full)
            if parts[0] == "projects" and parts[2:] == ["repository", "branches"]:
                name = self._project_name(parts[1])
                branches = [b for b in self.repos.get(name, []) if query.get("search", "") in b]
                return self._page(
                    [
                        {"name": b, "commit": {"id": "0" * 40}, "default": b == "main", "protected": False}
                        for b in branches
                    ],
                    query,
                    "per_page",
                    full,
                )
            return 404, {"message": "404 Not Found"}, {}
        size = "per_page" if self.kind == "github" else "limit"
        if parts == ["user"] and self.kind == "github":
            return 200, {"login": self.login, "id": 1}, {}
        if parts == ["user", "repos"]:
            return self._page([self._repo(n) for n in self.repos], query, size, full)
        if parts == ["search", "repositories"] and self.kind == "github":
            words = query.get("q", "").split()
            term = words[0] if words else ""
            assert f"user:{self.login}" in words, "the search names the token's account"
            code, items, headers = self._page(
                [self._repo(n) for n in self.repos if term in n.split("/")[1]], query, size, full
            )
            return code, {"total_count": len(items), "incomplete_results": False, "items": items}, headers
        if parts == ["repos", "search"] and self.kind == "gitea":
            code, items, headers = self._page(
                [self._repo(n) for n in self.repos if query.get("q", "") in n], query, size, full
            )
            return code, {"ok": True, "data": items}, headers
        if len(parts) == 4 and parts[0] == "repos" and parts[3] == "branches":
            branches = self.repos.get(f"{parts[1]}/{parts[2]}")
            if branches is None:
                return 404, {"message": "Not Found"}, {}
            key = "sha" if self.kind == "github" else "id"
            return self._page(
                [{"name": b, "commit": {key: "0" * 40}, "protected": False} for b in branches], query, size, full
            )
        return 404, {"message": "Not Found"}, {}

    def _status(self, parts: list[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if self.refuse_statuses:
            return 500, {"message": "Internal Server Error"}, {}
        if self.kind == "gitlab":
            allowed, words = {"pending", "running", "success", "failed", "canceled"}, ("state", "name")
        else:
            allowed = {"pending", "success", "error", "failure"} | ({"warning"} if self.kind == "gitea" else set())
            words = ("state", "context")
        if not isinstance(body, dict) or body.get("state") not in allowed or not body.get(words[1]):
            return 422, {"message": "Validation Failed"}, {}
        key = "state" if self.kind == "github" else "status"
        return (
            201,
            {
                "id": len(self.requests),
                key: body["state"],
                "sha": parts[-1],
                **{k: v for k, v in body.items() if k != "state"},
            },
            {},
        )

    def _page(
        self, items: list[Any], query: dict[str, str], size: str, full: str
    ) -> tuple[int, list[Any], dict[str, str]]:
        per = int(query.get(size, "30"))
        page = 1 if self.ignore_page else int(query.get("page", "1"))
        chunk = items[(page - 1) * per : page * per]
        more = self.ignore_page or page * per < len(items)
        if self.kind == "gitlab":
            headers = {"X-Page": str(page), "X-Total": str(len(items)), "X-Next-Page": str(page + 1) if more else ""}
        else:
            headers = {"Link": f'<{self.prefix.rstrip("/")}{full}?page={page + 1}>; rel="next"'} if more else {}
        return 200, chunk, headers

    def _repo(self, name: str) -> dict[str, Any]:
        return {
            "id": list(self.repos).index(name) + 1,
            "full_name": name,
            "name": name.split("/")[1],
            "clone_url": f"https://forge.example.test/{name}.git",
            "default_branch": self.repos[name][0],
            "private": True,
        }

    def _gitlab_project(self, name: str) -> dict[str, Any]:
        return {
            "id": list(self.repos).index(name) + 1,
            "path_with_namespace": name,
            "http_url_to_repo": f"https://forge.example.test/{name}.git",
            "default_branch": self.repos[name][0],
            "visibility": "private",
        }

    def _project_name(self, ref: str) -> str:
        if ref.isdigit():
            return list(self.repos)[int(ref) - 1]
        return ref
