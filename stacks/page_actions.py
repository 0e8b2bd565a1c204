"""The stack page's actions: which buttons its reader gets (`services/abilities.py`),
and the confirmation each disruptive one asks first (Stop, Restart, Down, Roll back,
Force redeploy, Delete; never Sync), naming the stack and what will happen."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.urls import reverse

from dockhand.confirm import Confirm
from stacks.models import Deployment, GitStack
from stacks.services.abilities import Ability, StackAbilities, stack_abilities
from stacks.services.rollback import NothingToRollBack, rollback_target

DEPLOY_ACTIONS = "Sync, Force redeploy and Roll back"
OPERATE_ACTIONS = "Start, Stop, Restart and Down"


def stack_page_actions(user: Any, stack: GitStack, history: Iterable[Deployment]) -> dict[str, Any]:
    """Template context: `can` (StackAbilities), `rollback` (the header's Roll back,
    disabled when there is nothing to go back to), `confirms` (key → Confirm),
    `row_rollbacks` (deployment id → Confirm, for "Roll back to this") and
    `action_hints` (what is shown disabled, and why)."""
    can = stack_abilities(user, stack)
    waits = "It waits for an admin's approval before it deploys." if can.deploy_waits else ""
    target: Deployment | None = None
    rollback = can.deploy
    if can.deploy:
        try:
            target = rollback_target(stack)
        except NothingToRollBack as exc:
            rollback = Ability(shown=True, allowed=False, reason=str(exc))
    confirms: dict[str, Confirm] = {}
    if can.deploy:
        confirms["force-sync"] = Confirm(
            key="force-sync",
            title=f"Force redeploy {stack.name}?",
            message=(
                f"Force redeploy recreates every container of {stack.name} from the branch head, "
                "even where nothing changed: its services are briefly unavailable."
            ),
            action=reverse("stack-sync", args=[stack.pk]),
            submit="Force redeploy",
            style="warning",
            hidden=(("force", "on"),),
            note=waits,
        )
        if target is not None:
            confirms["rollback"] = _rollback(stack, target, key="rollback", note=waits)
    if can.operate:
        confirms.update(_operations(stack))
    if can.administer:
        confirms["delete"] = Confirm(
            key="delete",
            title=f"Delete {stack.name}?",
            message=f"Delete removes the stack {stack.name} from dockhand (and its containers and history if ticked).",
            action=reverse("stack-delete", args=[stack.pk]),
            submit="Delete",
            options=(
                ("removeContainers", "Also stop and remove its containers (docker compose down)", True),
                ("removeHistory", "Also delete its deployment history (kept otherwise, under its name)", False),
            ),
            note="This cannot be undone.",
        )
    return {
        "can": can,
        "rollback": rollback,
        "confirms": confirms,
        "row_rollbacks": {
            d.pk: _rollback(stack, d, key=f"rollback-{d.pk}", note=waits)
            for d in history
            if can.deploy and _earlier_good(stack, d)
        },
        "action_hints": _hints(can),
    }


def _earlier_good(stack: GitStack, deployment: Deployment) -> bool:
    """A deploy that ran fine, of another commit than what runs now: one to go back to."""
    return (
        deployment.status == Deployment.Status.SUCCESS
        and deployment.deployed
        and deployment.commit_sha not in ("", stack.last_commit)
    )


def _rollback(stack: GitStack, target: Deployment, *, key: str, note: str) -> Confirm:
    subject = f" “{target.commit_message.splitlines()[0][:60]}”" if target.commit_message.strip() else ""
    return Confirm(
        key=key,
        title=f"Roll back {stack.name}?",
        message=(
            f"Roll back redeploys commit {target.commit_sha[:7]}{subject} (deployment #{target.pk}) and pauses "
            f"auto-sync: pushes and the schedule do not deploy {stack.name} again until you resume it."
        ),
        action=reverse("stack-rollback", args=[stack.pk]),
        submit="Roll back",
        style="warning",
        hidden=(("deployment", str(target.pk)),),
        note=note,
    )


def _operations(stack: GitStack) -> dict[str, Confirm]:
    name = stack.name
    return {
        "stop": Confirm(
            key="stop",
            title=f"Stop {name}?",
            message=f"Stop stops every container of {name}; it stays stopped, syncs included, until you start it.",
            action=reverse("stack-stop", args=[stack.pk]),
            submit="Stop",
        ),
        "restart": Confirm(
            key="restart",
            title=f"Restart {name}?",
            message=f"Restart restarts every container of {name}: its services are briefly unavailable.",
            action=reverse("stack-restart", args=[stack.pk]),
            submit="Restart",
            style="warning",
        ),
        "down": Confirm(
            key="down",
            title=f"Take {name} down?",
            message=(
                f"Down removes the containers and networks of {name} (its volumes too if ticked); "
                "it stays down until you start it, which deploys it again."
            ),
            action=reverse("stack-down", args=[stack.pk]),
            submit="Down",
            options=(
                ("volumes", "Also remove its volumes: the data in them is lost", False),
                ("images", "Also remove its images", False),
            ),
        ),
    }


def _hints(can: StackAbilities) -> list[tuple[str, str]]:
    """(actions, reason) for what is shown but disabled; one line per reason."""
    hints: dict[str, list[str]] = {}
    for actions, ability in ((DEPLOY_ACTIONS, can.deploy), (OPERATE_ACTIONS, can.operate)):
        if ability.shown and not ability.allowed:
            hints.setdefault(ability.reason, []).append(actions)
    return [(_joined(actions), reason) for reason, actions in hints.items()]


def _joined(groups: list[str]) -> str:
    if len(groups) == 1:
        return groups[0]
    return ", ".join(g.replace(" and ", ", ") for g in groups[:-1]) + ", " + groups[-1]
