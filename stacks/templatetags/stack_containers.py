"""The stack page's containers section: each container with what it uses, as rows the
template reads (the table on a wide screen, cards on a phone)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from stacks import engine
from stacks.models import GitStack
from stacks.services.containers import SHORT_ID, may_operate_containers

register = template.Library()

_STATE_COLORS = {"running": "success", "restarting": "warning", "paused": "info", "dead": "danger"}
_HEALTH_COLORS = {"healthy": "success", "unhealthy": "danger", "starting": "info"}
_HEALTH_WORDS = re.compile(r"\s*\((healthy|unhealthy|health: starting)\)$")
# "Exited (137) 3 minutes ago", "Restarting (1) 2 seconds ago": the state and its code
# are in their own badge; the time is what is left.
_STATE_WORDS = re.compile(r"^(Exited|Restarting) \(-?\d+\) |^Created$")


def _age(seconds: int) -> str:
    """A running time as `docker ps` would round it, shorter: 45 s, 12 min, 3 h 5 min, 4 d 2 h."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


@dataclass(frozen=True)
class ContainerRow:
    """A container of the stack and, once measured, what it uses."""

    c: engine.ContainerInfo
    stats: engine.ContainerStats | None = None

    @property
    def ref(self) -> str:
        return self.c.id[:SHORT_ID]

    @property
    def running(self) -> bool:
        return self.c.state == "running"

    @property
    def state_color(self) -> str:
        if self.c.state == "exited":
            return "danger" if self.c.exit_code else "secondary"
        return _STATE_COLORS.get(self.c.state, "secondary")

    @property
    def health_color(self) -> str:
        return _HEALTH_COLORS.get(self.c.health, "secondary")

    @property
    def uptime(self) -> str:
        """How long it has run ("3 h 2 min"), or since when it has not ("exited 2 minutes ago")."""
        if self.stats is not None and self.stats.started_at is not None:
            return _age(int((timezone.now() - self.stats.started_at).total_seconds()))
        status = _HEALTH_WORDS.sub("", self.c.status)
        if self.running:
            return status.removeprefix("Up ")
        since = _STATE_WORDS.sub("", status)
        return f"{self.c.state} {since[:1].lower()}{since[1:]}" if since else ""  # "exited 2 minutes ago"

    @property
    def state_label(self) -> str:
        """The state, with the exit code of a container that ended ("exited (137)")."""
        return f"{self.c.state} ({self.c.exit_code})" if self.c.state == "exited" else self.c.state

    @property
    def cpu(self) -> str:
        return f"{self.stats.cpu_percent:.1f} %" if self.stats is not None else ""

    @property
    def memory(self) -> str:
        return filesizeformat(self.stats.memory_bytes) if self.stats is not None else ""

    @property
    def memory_limit(self) -> str:
        return filesizeformat(self.stats.memory_limit_bytes) if self.stats is not None else ""


def container_list_context(
    user: Any,
    stack: GitStack,
    workloads: Sequence[Any] | None,
    usage: Mapping[str, engine.ContainerStats] | None = None,
) -> dict[str, Any]:
    """What `_container_list.html` shows: None for workloads when the engine could not
    be asked; `usage` None while not measured yet (the page asks for it at once)."""
    containers = [w for w in workloads or () if isinstance(w, engine.ContainerInfo)]
    return {
        "stack": stack,
        "unreachable": workloads is None,
        "services": [w for w in workloads or () if isinstance(w, engine.ServiceInfo)],
        "rows": [
            ContainerRow(c, (usage or {}).get(c.id)) for c in sorted(containers, key=lambda c: (c.service, c.name))
        ],
        "measured": usage is not None,
        "may_operate": may_operate_containers(user, stack.environment),
    }


@register.inclusion_tag("stacks/_container_list.html", takes_context=True)
def container_list(context: template.Context, stack: GitStack, workloads: Sequence[Any] | None) -> dict[str, Any]:
    """The list as the stack page first shows it (usage follows over HTMX)."""
    found = container_list_context(context["request"].user, stack, workloads)
    return {**found, "csrf_token": context.get("csrf_token")}
