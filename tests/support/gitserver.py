"""A real git server for tests: `git http-backend` behind HTTP basic auth, plus helpers
to commit and (force-)push to the repositories it serves."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.test",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


class GitServer:
    """Serves bare repositories under `root` at http://127.0.0.1:<port>/<name>.git."""

    def __init__(self, root: Path, username: str, password: str, host: str = "127.0.0.1") -> None:
        self.root = root
        self.host = host  # another address when a container must reach it (tests/support/image.py)
        self.username, self.password = username, password
        self.requests: list[str] = []  # "METHOD path auth-user" of every request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                header = self.headers.get("Authorization", "")
                user = ""
                if header.startswith("Basic "):
                    user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                    if (user, pw) != (server.username, server.password):
                        user = ""
                server.requests.append(f"{self.command} {self.path} {user or '-'}")
                if not user:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "PATH": os.environ["PATH"],
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": user,
                    "REMOTE_ADDR": "127.0.0.1",
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                }
                done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                code, headers = 200, []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        code = int(value.strip().split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> GitServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, name: str) -> str:
        return f"{self.prefix}{name}.git"

    @property
    def prefix(self) -> str:
        """Every repository of this server: the URL prefix a credential for it needs."""
        return f"http://{self.host}:{self.port}/"

    def create_repo(self, name: str, files: dict[str, str], *, branch: str = "main") -> TestRepo:
        bare = self.root / f"{name}.git"
        subprocess.run(["git", "init", "--bare", "-q", "-b", branch, str(bare)], check=True)
        git("config", "http.receivepack", "true", cwd=bare)
        work = self.root / f"{name}.work"
        subprocess.run(["git", "init", "-q", "-b", branch, str(work)], check=True)
        git("remote", "add", "origin", str(bare), cwd=work)
        repo = TestRepo(work, branch, self.url(name))
        repo.commit(files, "initial commit")
        return repo


class TestRepo:
    """A working clone that pushes straight to the bare repository on disk."""

    __test__ = False  # not a pytest test class

    def __init__(self, work: Path, branch: str, url: str) -> None:
        self.work, self.branch, self.url = work, branch, url

    def commit(self, files: dict[str, str | None], message: str) -> str:
        """Write (or, for None, delete) files, commit, push; return the new sha."""
        for rel, content in files.items():
            target = self.work / rel
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:{self.branch}", cwd=self.work)
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work)

    def force_reset(self, sha: str) -> str:
        """Rewrite the branch to an older commit and force-push it."""
        git("reset", "-q", "--hard", sha, cwd=self.work)
        git("push", "-q", "--force", "origin", f"HEAD:{self.branch}", cwd=self.work)
        return self.head()


def start_git_server(root: Path, username: str, password: str, host: str = "127.0.0.1") -> GitServer:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return GitServer(root, username, password, host).start()


def changes(repo: TestRepo, sha: str) -> dict[str, list[str]]:
    """added/modified/removed paths of one commit, as providers list them."""
    out = git("diff-tree", "--no-commit-id", "--name-status", "-r", "--root", sha, cwd=repo.work)
    lists: dict[str, list[str]] = {"added": [], "modified": [], "removed": []}
    for line in out.splitlines():
        status, _, path = line.partition("\t")
        lists[{"A": "added", "D": "removed"}.get(status[:1], "modified")].append(path)
    return lists


def commit_info(repo: TestRepo, sha: str) -> dict[str, str]:
    message = git("log", "-1", "--format=%B", sha, cwd=repo.work)
    return {"id": sha, "message": message, "timestamp": git("log", "-1", "--format=%cI", sha, cwd=repo.work)}
