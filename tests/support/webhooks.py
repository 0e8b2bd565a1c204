"""Webhook requests shaped and signed the way GitHub, GitLab and Gitea send them."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.gitserver import TestRepo, changes, commit_info

ZERO = "0" * 40


@dataclass
class Hook:
    """A webhook request ready to send: body bytes and headers (Django test client style)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def meta(self) -> dict[str, str]:
        """Headers as Django test client keyword arguments."""
        return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in self.headers.items()}


def _commits(repo: TestRepo, shas: list[str]) -> list[dict[str, Any]]:
    author = {"name": "Test Author", "email": "author@example.test", "username": "tester"}
    return [
        {**commit_info(repo, sha), **changes(repo, sha), "author": author, "url": f"{repo.url}/commit/{sha}"}
        for sha in shas
    ]


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_push(
    repo: TestRepo, secret: str, *, before: str, shas: list[str], ref: str | None = None, deleted: bool = False
) -> Hook:
    commits = [] if deleted else _commits(repo, shas)
    payload = {
        "ref": ref or f"refs/heads/{repo.branch}",
        "before": before,
        "after": ZERO if deleted else shas[-1],
        "created": False,
        "deleted": deleted,
        "forced": False,
        "compare": f"{repo.url}/compare/{before[:12]}...{(shas or [ZERO])[-1][:12]}",
        "commits": commits,
        "head_commit": None if deleted else commits[-1],
        "repository": {
            "id": 1,
            "name": "app",
            "full_name": "team/app",
            "clone_url": repo.url,
            "default_branch": repo.branch,
        },
        "pusher": {"name": "tester", "email": "author@example.test"},
        "sender": {"login": "tester", "id": 1},
    }
    body = json.dumps(payload).encode()
    return Hook(
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/abc1234",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "42",
            "X-Hub-Signature-256": "sha256=" + _sign(secret, body),
        },
    )


def github_ping(secret: str) -> Hook:
    body = json.dumps(
        {"zen": "Keep it logically awesome.", "hook_id": 42, "hook": {"type": "Repository", "events": ["push"]}}
    ).encode()
    return Hook(
        body,
        {
            "Content-Type": "application/json",
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256=" + _sign(secret, body),
        },
    )


def gitlab_push(
    repo: TestRepo, secret: str, *, before: str, shas: list[str], ref: str | None = None, tag: bool = False
) -> Hook:
    commits = _commits(repo, shas)
    payload = {
        "object_kind": "tag_push" if tag else "push",
        "event_name": "tag_push" if tag else "push",
        "before": before,
        "after": shas[-1],
        "ref": ref or f"refs/heads/{repo.branch}",
        "ref_protected": True,
        "checkout_sha": shas[-1],
        "user_username": "tester",
        "project_id": 15,
        "project": {"id": 15, "name": "app", "git_http_url": repo.url, "default_branch": repo.branch},
        "commits": list(reversed(commits)),  # GitLab lists the newest commit first
        "total_commits_count": len(commits),
        "repository": {"name": "app", "url": repo.url},
    }
    body = json.dumps(payload).encode()
    return Hook(
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "GitLab/17.5.0",
            "X-Gitlab-Event": "Tag Push Hook" if tag else "Push Hook",
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "X-Gitlab-Instance": "https://gitlab.example.test",
            "X-Gitlab-Token": secret,
        },
    )


def gitea_push(repo: TestRepo, secret: str, *, before: str, shas: list[str], ref: str | None = None) -> Hook:
    commits = _commits(repo, shas)
    payload = {
        "ref": ref or f"refs/heads/{repo.branch}",
        "before": before,
        "after": shas[-1],
        "compare_url": f"{repo.url}/compare/{before}...{shas[-1]}",
        "commits": commits,
        "total_commits": len(commits),
        "head_commit": commits[-1],
        "repository": {
            "id": 3,
            "name": "app",
            "full_name": "team/app",
            "clone_url": repo.url,
            "default_branch": repo.branch,
        },
        "pusher": {"login": "tester"},
        "sender": {"login": "tester"},
    }
    body = json.dumps(payload, indent=2).encode()
    delivery = str(uuid.uuid4())
    signature = _sign(secret, body)
    return Hook(
        body,
        {
            "Content-Type": "application/json",
            "X-Gitea-Event": "push",
            "X-Gitea-Event-Type": "push",
            "X-Gitea-Delivery": delivery,
            "X-Gitea-Signature": signature,
            "X-Gogs-Event": "push",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + signature,
        },
    )
