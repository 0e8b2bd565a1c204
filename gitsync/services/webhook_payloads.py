"""Webhook signatures and push payloads of GitHub, GitLab, Gitea/Forgejo and a generic
sender, reduced to one shape. Pure functions: no database, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ZERO_SHA = "0" * 40
SKIP_MARKERS = ("[skip deploy]", "[skip ci]")


class SignatureError(Exception):
    """Missing or wrong signature (answered 401)."""


class PayloadError(Exception):
    """A verified body that is not the JSON we expect (answered 400)."""


@dataclass(frozen=True)
class Delivery:
    """What a verified webhook request says, whatever the provider."""

    provider: str
    event: str
    delivery_id: str
    kind: str  # "push", "ping" or "other"
    ref: str = ""
    deleted: bool = False
    head_message: str = ""
    # Paths touched by the pushed commits; None when the payload cannot tell them all.
    changed: frozenset[str] | None = field(default=None)

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), expected.encode())


# Which provider a request says it comes from, by the header that carries its
# signature (first match wins: Gitea also sends GitHub's headers).
_SIGNATURES = (
    ("gitea", ("X-Gitea-Signature", "X-Forgejo-Signature")),
    ("github", ("X-Hub-Signature-256",)),
    ("gitlab", ("X-Gitlab-Token",)),
    ("generic", ("X-Webhook-Secret",)),
)


def claimed(headers: Mapping[str, str]) -> tuple[str, str]:
    """(provider, signature) as the request claims them, unverified; ("unknown", "")."""
    for provider, names in _SIGNATURES:
        for name in names:
            if value := headers.get(name):
                return provider, value
    return "unknown", ""


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> str:
    """Check the request's signature against `secret` and return the provider name.

    Every comparison is constant-time; there is no unsigned mode.
    """
    if not secret:
        raise SignatureError("this webhook has no secret configured")
    provider, given = claimed(headers)
    if provider == "gitea":
        ok = _same(given.lower(), _hmac_hex(secret, body))
    elif provider == "github":
        ok = _same(given, "sha256=" + _hmac_hex(secret, body))
    elif provider in ("gitlab", "generic"):
        ok = _same(given, secret)
    else:
        raise SignatureError("missing signature header")
    if not ok:
        raise SignatureError("signature does not match")
    return provider


def _files(commits: list[Any]) -> frozenset[str] | None:
    touched: set[str] = set()
    for commit in commits:
        if not isinstance(commit, dict):
            return None
        for key in ("added", "modified", "removed"):
            paths = commit.get(key)
            if paths is None:
                return None  # a provider that leaves the lists out: cannot tell
            touched.update(str(p) for p in paths)
    return frozenset(touched)


def _event(provider: str, headers: Mapping[str, str]) -> str:
    names = {
        "github": ("X-GitHub-Event",),
        "gitlab": ("X-Gitlab-Event",),
        "gitea": ("X-Gitea-Event", "X-Forgejo-Event", "X-GitHub-Event"),
        "generic": ("X-Webhook-Event",),
    }[provider]
    return next((headers[n] for n in names if headers.get(n)), "push")


def _delivery_id(headers: Mapping[str, str]) -> str:
    for name in (
        "X-GitHub-Delivery",
        "X-Gitlab-Event-UUID",
        "X-Gitea-Delivery",
        "X-Forgejo-Delivery",
        "X-Webhook-Delivery",
    ):
        if headers.get(name):
            return headers[name][:200]
    return ""


def parse(provider: str, headers: Mapping[str, str], body: bytes) -> Delivery:
    """Normalise a verified request; raises PayloadError for malformed JSON."""
    event = _event(provider, headers)
    delivery_id = _delivery_id(headers)
    try:
        payload = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError("the body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object")
    lowered = event.lower()
    if lowered == "ping":
        return Delivery(provider, event, delivery_id, "ping")
    if lowered not in ("push", "push hook", "tag push hook"):
        return Delivery(provider, event, delivery_id, "other")
    ref = str(payload.get("ref") or "")
    after = str(payload.get("after") or "")
    deleted = bool(payload.get("deleted")) or after == ZERO_SHA
    commits = payload.get("commits")
    commits = commits if isinstance(commits, list) else []
    head = payload.get("head_commit")
    if not isinstance(head, dict):
        wanted = payload.get("checkout_sha") or after
        head = next((c for c in commits if isinstance(c, dict) and c.get("id") == wanted), None)
        head = head or (commits[-1] if commits and isinstance(commits[-1], dict) else {})
    total = payload.get("total_commits_count", payload.get("total_commits", len(commits)))
    changed = _files(commits) if commits and total == len(commits) else None
    return Delivery(provider, event, delivery_id, "push", ref, deleted, str(head.get("message") or ""), changed)


def touches(changed: frozenset[str] | None, watch_paths: list[str]) -> bool:
    """Whether a push touched any watched path prefix (no prefixes: everything counts)."""
    if not watch_paths or changed is None:
        return True
    prefixes = [p.strip("/") for p in watch_paths if p.strip("/")]
    return any(path == p or path.startswith(p + "/") for path in changed for p in prefixes)


def ignore_reason(delivery: Delivery, *, branch: str, watch_paths: list[str]) -> str | None:
    """Why a push must not deploy a stack on `branch`, or None when it should."""
    if delivery.branch is None:
        return f"{delivery.ref or 'the push'} is not a branch"
    if delivery.branch != branch:
        return f"push to branch {delivery.branch!r}, stack tracks {branch!r}"
    if delivery.deleted:
        return f"branch {branch!r} was deleted"
    lowered = delivery.head_message.lower()
    marker = next((m for m in SKIP_MARKERS if m in lowered), None)
    if marker:
        return f"head commit says {marker}"
    if not touches(delivery.changed, watch_paths):
        return "no watched path was touched"
    return None
