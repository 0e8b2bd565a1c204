"""Refusing git input that can hurt, before git runs (400 naming the field).

Peers shipped CVEs here: `ext::` and `fd::` transports run commands, `file://` and
local paths read the server's disk, option-like values become git or ssh flags, and
credentials pasted into URLs end up shown and logged.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from gitsync import git
from gitsync.remotes import HOST, SCP_LIKE

_FORBIDDEN = set("$`'\"\\;|&<>(){}")


def _unsafe_characters(value: str) -> str | None:
    if value != value.strip() or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "must not contain spaces, line breaks or control characters"
    bad = sorted({ch for ch in value if ch in _FORBIDDEN})
    if bad:
        return f"must not contain {' '.join(bad)}"
    return None


def url_problem(url: str) -> str | None:
    """Why `url` is not an acceptable git remote, or None.

    Only network transports (https, http, ssh and scp-style); no option-like values,
    no shell metacharacters, no credentials inside the URL.
    """
    if not url:
        return "is required"
    if url.startswith("-"):
        return "must not start with '-'"
    unsafe = _unsafe_characters(url)
    if unsafe:
        return unsafe
    if SCP_LIKE.match(url):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http", "ssh"):
        return "must be an https://, http://, ssh:// or git@host:path URL"
    if not parts.hostname or (not re.fullmatch(HOST, parts.hostname.strip("[]")) and not _is_ip(parts.hostname)):
        return "must name a valid host"
    if parts.password or (parts.username and parts.scheme != "ssh"):
        return "must not contain credentials: use a credential"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def branch_problem(branch: str) -> str | None:
    """Why `branch` is not a branch name git accepts as such, or None."""
    if not branch:
        return "is required"
    if branch.startswith("-"):
        return "must not start with '-'"
    unsafe = _unsafe_characters(branch)
    if unsafe:
        return unsafe
    if not git.is_valid_branch_name(branch):
        return "is not a valid branch name (git check-ref-format --branch)"
    return None
