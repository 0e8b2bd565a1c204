"""The home page's overview: how the stacks a user may see stand, which need attention,
what deployed lately, and whether their engines answer. Each engine is asked once (for
the containers of all its stacks, and its version, cached like /api/health's)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from stacks.models import Deployment, Environment, GitStack
from stacks.services.environments import engines_check
from stacks.services.status import StackState, stack_states

RECENT = 10
# The order the counts are shown in: (label, what it means).
STATES = {
    "synced": ("Synced", "running exactly what their branch and settings say"),
    "out_of_sync": ("Out of sync", "a new commit, a changed setting or a hand edit waits"),
    "failed": ("Failed", "the last sync failed"),
    "paused": ("Paused", "auto-sync paused after a rollback or a pinned deploy"),
    "stopped": ("Stopped", "stopped or taken down by a user"),
}


@dataclass(frozen=True)
class Attention:
    stack: GitStack
    why: str


@dataclass
class Overview:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    attention: list[Attention] = field(default_factory=list)
    recent: list[Deployment] = field(default_factory=list)
    engines: list[tuple[str, bool, str]] = field(default_factory=list)
    total: int = 0


def overview(
    stacks: Iterable[GitStack], environments: Iterable[Environment], deployments: QuerySet[Deployment]
) -> Overview:
    """From what the caller may see: its stacks (with their environment), environments
    and deployments (newest first)."""
    stacks = list(stacks)
    states = stack_states(stacks)
    waiting = set(
        Deployment.objects.filter(status=Deployment.Status.PENDING_APPROVAL, stack__in=stacks).values_list(
            "stack_id", flat=True
        )
    )
    found = Overview(total=len(stacks))
    for stack in stacks:
        state = states[stack.pk]
        for kind in _kinds(stack, state):
            found.counts[kind] += 1
        why = "a deploy waits for approval" if stack.pk in waiting else _why(stack, state)
        if why:
            found.attention.append(Attention(stack, why))
    found.recent = list(deployments.select_related("stack")[:RECENT])
    checked = engines_check(environments)
    found.engines = [(e.name, *checked[e]) for e in sorted(checked, key=lambda e: e.name)]
    return found


def _kinds(stack: GitStack, state: StackState) -> list[str]:
    kinds = []
    if stack.stopped_by_user:
        kinds.append("stopped")
    elif state.sync_state == "Synced":
        kinds.append("synced")
    elif state.sync_state == "OutOfSync":
        kinds.append("out_of_sync")
    if stack.sync_status == GitStack.SyncStatus.FAILED:
        kinds.append("failed")
    if stack.auto_sync_paused:
        kinds.append("paused")
    return kinds


def _why(stack: GitStack, state: StackState) -> str:
    """What a user should look at first for this stack ('' when nothing)."""
    if stack.sync_status == GitStack.SyncStatus.FAILED:
        return f"last sync failed: {stack.sync_error.splitlines()[0] if stack.sync_error else 'no reason recorded'}"
    if stack.branch_missing:
        return f"branch {stack.branch} is gone from the repository"
    if stack.stopped_by_user:
        return ""
    if state.health in ("Degraded", "Missing"):
        return f"health {state.health.lower()}"
    if state.sync_state == "OutOfSync":
        return "out of sync: " + ", ".join(state.reasons)
    return ""
