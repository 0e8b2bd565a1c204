"""Template helpers for the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

register = template.Library()

_BADGES = {
    "never": "secondary",
    "queued": "info",
    "syncing": "primary",
    "pending_approval": "info",
    "running": "primary",
    "success": "success",
    "skipped": "secondary",
    "failed": "danger",
    "cancelled": "warning",
    "interrupted": "warning",
    "Synced": "success",
    "OutOfSync": "warning",
    "Healthy": "success",
    "Degraded": "warning",
    "Missing": "danger",
    "Unknown": "secondary",
}


@register.filter
def get(mapping: Any, key: str) -> Any:
    """`errors|get:"envVars.2.key"`: look up keys templates cannot spell."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""


@register.filter
def digest_short(value: str) -> str:
    """`repo@sha256:0123…`: the digest's first 12 hex digits, as `docker images` shows."""
    digest = str(value).rsplit("@", 1)[-1]
    algorithm, _, hex_digits = digest.partition(":")
    return f"{algorithm}:{hex_digits[:12]}" if hex_digits else digest


@register.inclusion_tag("stacks/_badge.html")
def status_badge(status: str) -> dict[str, str]:
    return {"status": status, "color": _BADGES.get(status, "secondary")}


@register.filter
def absolute(moment: datetime | None) -> str:
    """A moment in full, in the server's time zone: what a `title` shows on hover."""
    if moment is None:
        return ""
    return format_date(timezone.localtime(moment), "Y-m-d H:i:s T")


def relative_text(moment: datetime, now: datetime | None = None) -> str:
    """ "just now", "3 minutes ago", "in 2 hours": the nearest unit only, never
    "0 minutes" (timesince's word for the first minute)."""
    now = now or timezone.now()
    seconds = (moment - now).total_seconds()
    if abs(seconds) < 60:
        return "just now" if seconds <= 0 else "in a moment"
    if seconds < 0:
        return f"{timesince(moment, now, depth=1)} ago"
    return f"in {timeuntil(moment, now, depth=1)}"


@register.simple_tag
def relative(moment: datetime | None, empty: str = "—") -> SafeString:
    """`{% relative d.created_at %}`: "3 minutes ago", the full time on hover."""
    if moment is None:
        return format_html("{}", empty)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), absolute(moment), relative_text(moment)
    )


@register.filter
def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


@register.filter
def diff_lines(text: str | None) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) for colouring: `add`, `del`, `hunk`, `meta` or
    `same`. The lines stay text: the template escapes them like any other value."""
    lines = []
    header = True  # git's header lines (`--- a/…`) come before the first hunk only
    for line in (text or "").splitlines():
        if line.startswith("@@"):
            kind, header = "hunk", False
        elif header or line.startswith(("\\", "…")):  # "\ No newline…", a cut diff
            kind = "meta"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        lines.append((kind, line or " "))  # an empty line still takes a line's height
    return lines


_FILE_STATUS = {"A": "added", "M": "modified", "D": "deleted", "T": "type changed"}


@register.filter
def file_status(letter: str) -> str:
    """git's status letter in words."""
    return _FILE_STATUS.get(letter, letter)


@register.filter
def option_value(value: Any) -> str:
    """A compose option's value as a person reads it: lists joined, switches on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    if value is None or value == "":
        return "none"
    return str(value)


@register.filter
def lines(value: Any) -> list[str]:
    """A form value holding several items one a line (a list as initial_values writes
    it, or checkboxes as a page re-shows them): the items, for `in` tests."""
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]
