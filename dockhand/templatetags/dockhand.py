"""Template helpers for the dashboard."""

from __future__ import annotations

from typing import Any

from django import template

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


@register.inclusion_tag("stacks/_badge.html")
def status_badge(status: str) -> dict[str, str]:
    return {"status": status, "color": _BADGES.get(status, "secondary")}


@register.filter
def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"
