"""Notifications (Apprise URLs of the stack and of its environment): what happened to a
stack, told to whoever asked for that kind of event. A failure to notify is recorded in
the audit log and never fails, delays or changes the deploy it tells of."""

from __future__ import annotations

import logging

from django.conf import settings

from dockhand import notifier
from dockhand.audit import record
from stacks.models import Deployment, Environment, GitStack, NotifyEvent
from stacks.services.images import moved_lines

log = logging.getLogger(__name__)

_BAD = {NotifyEvent.FAILURE, NotifyEvent.BRANCH_MISSING, NotifyEvent.OUT_OF_SYNC}
_TITLES = {
    NotifyEvent.SUCCESS: "deployed",
    NotifyEvent.FAILURE: "sync failed",
    NotifyEvent.SKIPPED: "already up to date",
    NotifyEvent.ROLLBACK: "rolled back",
    NotifyEvent.OUT_OF_SYNC: "out of sync",
    NotifyEvent.BRANCH_MISSING: "branch missing",
}


def _urls(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _targets(stack: GitStack, event: str) -> list[str]:
    urls: list[str] = []
    for owner in (stack.environment, stack):
        if event in owner.notify_events:
            urls += [u for u in _urls(owner.notify_urls) if u not in urls]
    return urls


def deployment_event(deployment: Deployment, *, branch_missing: bool = False) -> str | None:
    """The event a finished deployment is (None: nothing to tell, e.g. cancelled)."""
    if deployment.status == Deployment.Status.SUCCESS:
        rollback = deployment.trigger == Deployment.Trigger.ROLLBACK
        return NotifyEvent.ROLLBACK if rollback else NotifyEvent.SUCCESS
    if deployment.status == Deployment.Status.SKIPPED:
        return NotifyEvent.SKIPPED
    if deployment.status == Deployment.Status.FAILED:
        return NotifyEvent.BRANCH_MISSING if branch_missing else NotifyEvent.FAILURE
    return None


def stack_notify(stack: GitStack, event: str, *, deployment: Deployment | None = None, detail: str = "") -> list[str]:
    """Send `event` to the URLs that asked for it; the problems (also in the audit log).
    Never raises: notifying must not break the deploy or the webhook it tells of."""
    try:
        return _send(stack, event, deployment, detail)
    except Exception as exc:
        log.exception("notifying stack %s of %s failed", stack.pk, event)
        return [f"internal error: {type(exc).__name__}"]


def _send(stack: GitStack, event: str, deployment: Deployment | None, detail: str) -> list[str]:
    urls = _targets(stack, event)
    if not urls:
        return []
    title = f"dockhand: {stack.name} {_TITLES[NotifyEvent(event)]}"
    lines = [f"Stack {stack.name} (environment {stack.environment.name}), branch {stack.branch}"]
    if deployment is not None:
        if deployment.commit_sha:
            subject = (deployment.commit_message or "").splitlines()[:1]
            lines.append(f"Commit {deployment.commit_sha[:12]} {subject[0] if subject else ''}".rstrip())
        lines += moved_lines(deployment)  # image X moved from sha256:A to sha256:B
        if deployment.error:
            lines.append(f"Error: {deployment.error}")  # masked when it was recorded
        if settings.PUBLIC_URL:
            lines.append(f"{settings.PUBLIC_URL}/deployments/{deployment.pk}/")
    if detail:
        lines.append(detail)
    problems = notifier.send(urls, title=title, body="\n".join(lines), failed=event in _BAD)
    for problem in problems:
        log.warning("notification of %s for stack %s failed: %s", event, stack.pk, problem)
        record("notify.failed", stack, f"event={event} {problem}")
    return problems


def deployment_notify(deployment: Deployment, *, branch_missing: bool = False) -> None:
    """Tell of a deployment that just finished (called once, where it finished)."""
    event = deployment_event(deployment, branch_missing=branch_missing)
    if event is not None and deployment.stack is not None:
        stack_notify(deployment.stack, event, deployment=deployment)


def notify_test(*, stack: GitStack | None = None, environment: Environment | None = None) -> list[str]:
    """The "send test" button: one message to each URL of the stack or environment;
    the problems (empty: every URL took it). Raises ValueError when there is none."""
    owner = stack or environment
    assert owner is not None
    urls = _urls(owner.notify_urls)
    if not urls:
        raise ValueError("no notification URL is set")
    name = f"stack {stack.name}" if stack else f"environment {owner}"
    problems = notifier.send(
        urls, title="dockhand: test notification", body=f"A test message for {name}.", failed=False
    )
    for problem in problems:
        record("notify.failed", owner, f"event=test {problem}")
    return problems
