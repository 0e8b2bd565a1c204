"""Acting on verified webhooks: replay protection, the branch/skip/path rules, and the
sync through the one pipeline (coalesced while a sync runs)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, router, transaction

from dockhand.prepared import Prepared
from gitsync.models import Repository
from gitsync.services.webhook_payloads import Delivery, ignore_reason
from stacks.models import Deployment, GitStack, NotifyEvent, WebhookDelivery
from stacks.services.access import deploy_needs_approval
from stacks.services.notifications import stack_notify
from stacks.services.sync import auto_sync_refusal, hand_to_worker, stack_sync, stack_sync_coalesced

MAX_BODY = 1024 * 1024

# What a push to a stack's webhook reads of the stack and its environment. A push
# mostly joins the follow-up of the sync that runs, and a row of ~50 columns costs
# more to select and build than the rest of the request; what a deploy (or a
# notification) reads besides is loaded when it is used.
_PUSH_READS = (
    "name", "environment", "repository_id", "branch", "webhook_enabled", "webhook_secret", "watch_paths",
    "auto_sync_paused", "lock_owner", "lock_expires", "sync_pending", "environment__name", "environment__protection",
    "environment__approval_required",
)  # fmt: skip


# Compiled once: compiling this query cost more than running it (dockhand/prepared.py).
_PUSH_STACK: Prepared[GitStack] = Prepared(
    lambda pk: GitStack.objects.select_related("environment").only(*_PUSH_READS).filter(pk=pk).order_by()
)


def webhook_stack(pk: int) -> GitStack | None:
    """The stack a webhook names, read for a push (`_PUSH_READS`); None if there is none."""
    if not 0 < pk < 2**63:  # no row has such a key (and SQLite takes no larger integer)
        return None
    # From the database written to: whether a follow-up is asked for decides if the push
    # may join it without a write, and a replica's answer could be late.
    return _PUSH_STACK.first(router.db_for_write(GitStack), pk)


@dataclass
class WebhookAnswer:
    """HTTP status and JSON body for the sender; `deployment` for `?wait=true`."""

    status: int
    body: dict[str, Any]
    deployment: Deployment | None = None


class _Seen(Exception):
    """The delivery id reached this target before: what was written with it rolls back."""


def _record(target: str, delivery: Delivery, result: str, reason: str = "", **fields: Any) -> WebhookDelivery:
    """Write the delivery for `target` with what it did, in the caller's transaction;
    `_Seen` when that delivery id was recorded before (the unique constraint decides,
    so concurrent copies of one delivery cannot both pass)."""
    try:
        return WebhookDelivery.objects.create(
            target=target,
            provider=delivery.provider,
            event=delivery.event[:100],
            delivery_id=delivery.delivery_id,
            ref=delivery.ref[:300],
            result=result,
            reason=reason[:300],
            **fields,
        )
    except IntegrityError as exc:
        raise _Seen() from exc


def _claim(target: str, delivery: Delivery, reason: str = "", **fields: Any) -> WebhookDelivery | None:
    """Record a delivery that deploys nothing (yet), in a transaction of its own; None
    for a delivery seen before."""
    try:
        with transaction.atomic():
            return _record(target, delivery, WebhookDelivery.Result.IGNORED, reason, **fields)
    except _Seen:
        return None


def _not_a_push(delivery: Delivery) -> WebhookAnswer:
    if delivery.kind == "ping":
        return WebhookAnswer(200, {"ok": True, "event": delivery.event})
    return WebhookAnswer(200, {"ignored": True, "reason": f"event {delivery.event!r} is not a push"})


def _not_a_push_once(target: str, delivery: Delivery, **fields: Any) -> WebhookAnswer:
    answer = _not_a_push(delivery)
    reason = str(answer.body.get("reason", delivery.event))
    if _claim(target, delivery, reason, **fields) is None:
        return WebhookAnswer(200, {"duplicate": True})
    return answer


def _deploy_once(
    target: str, delivery: Delivery, stack: GitStack, /, **fields: Any
) -> WebhookAnswer | Deployment | None:
    """Sync the stack (or join the follow-up of the sync that runs) and record the
    delivery with what it did, in ONE transaction: one turn at the database's writer
    lock, and a delivery seen before rolls back the deployment or the follow-up it
    asked for. The deployment (None: joined the follow-up), or the duplicate answer."""
    if deploy_needs_approval(None, stack.environment):
        return _approval_once(target, delivery, stack, **fields)
    try:
        with transaction.atomic():
            deployment = stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.WEBHOOK, hand_off=False)
            _record(target, delivery, *_outcome(deployment), deployment=deployment, **fields)
    except _Seen:
        return WebhookAnswer(200, {"duplicate": True})
    if deployment is not None and deployment.status == Deployment.Status.QUEUED:
        deployment = hand_to_worker(stack, deployment)  # committed: the worker finds its row
    return deployment


def _approval_once(target: str, delivery: Delivery, stack: GitStack, /, **fields: Any) -> WebhookAnswer | Deployment:
    """Where an admin must approve, the request reads the branch head from the remote:
    not while holding the database's writer lock. The delivery is recorded first (a
    copy of it stops there), and asking again joins the deployment already waiting."""
    record = _claim(target, delivery, **fields)
    if record is None:
        return WebhookAnswer(200, {"duplicate": True})
    deployment = stack_sync(stack=stack, trigger=Deployment.Trigger.WEBHOOK, by=None)
    record.result, record.reason = _outcome(deployment)
    record.deployment = deployment
    record.save(update_fields=["result", "reason", "deployment"])
    return deployment


def _outcome(deployment: Deployment | None) -> tuple[str, str]:
    """The delivery's result and reason for what the sync did."""
    if deployment is None:
        return WebhookDelivery.Result.COALESCED, "a sync was running: one follow-up sync will run after it"
    if deployment.status == Deployment.Status.PENDING_APPROVAL:
        return WebhookDelivery.Result.ACCEPTED, "the environment requires approval: the deploy waits for an admin"
    return WebhookDelivery.Result.ACCEPTED, ""


def _why_not(stack: GitStack, delivery: Delivery, *, any_path: bool = False) -> tuple[str, bool]:
    """Why this push does not deploy the stack ('' when it does), and whether it is a
    push to its branch that an automatic sync may not deploy (paused, locked): that
    leaves it out of sync, which is told once the delivery is recorded.
    `any_path`: its watch paths do not matter (a stack its config file just made or changed)."""
    ignored = ignore_reason(delivery, branch=stack.branch, watch_paths=[] if any_path else stack.watch_paths)
    if ignored:
        return ignored, False
    refusal = auto_sync_refusal(stack)
    return refusal, bool(refusal)


def _ignore_once(
    target: str, delivery: Delivery, stack: GitStack, reason: str, refused: bool, /, **fields: Any
) -> bool:
    """Record an ignored delivery; False when it was seen before (nothing told twice)."""
    if _claim(target, delivery, reason, **fields) is None:
        return False
    if refused:
        stack_notify(stack, NotifyEvent.OUT_OF_SYNC, detail=f"A push to {stack.branch} was not deployed: {reason}")
    return True


def webhook_receive_for_stack(*, stack: GitStack, delivery: Delivery) -> WebhookAnswer:
    """A stack's own webhook: deploy when the push concerns its branch and paths.
    `stack` may be read with only what a push reads (`webhook_stack`)."""
    if delivery.provider == "generic" and not delivery.ref:
        # A generic sender may just say "deploy": it means this stack's branch.
        delivery = dataclasses.replace(delivery, kind="push", ref=f"refs/heads/{stack.branch}")
    target, fields = f"stack:{stack.pk}", {"stack": stack, "repository_id": stack.repository_id}
    if delivery.kind != "push":
        return _not_a_push_once(target, delivery, **fields)
    reason, refused = _why_not(stack, delivery)
    if reason:
        if not _ignore_once(target, delivery, stack, reason, refused, **fields):
            return WebhookAnswer(200, {"duplicate": True})
        return WebhookAnswer(200, {"ignored": True, "reason": reason})
    deployment = _deploy_once(target, delivery, stack, **fields)
    if isinstance(deployment, WebhookAnswer):
        return deployment
    message = _outcome(deployment)[1]
    if deployment is None:
        return WebhookAnswer(202, {"deploymentId": None, "coalesced": True, "message": message})
    if deployment.status == Deployment.Status.PENDING_APPROVAL:
        return WebhookAnswer(202, {"deploymentId": deployment.pk, "status": deployment.status, "message": message})
    return WebhookAnswer(202, {"deploymentId": deployment.pk}, deployment)


def repository_target(repository: Repository, target: str = "") -> str:
    """What a repository webhook's deliveries are recorded under (one per custom target)."""
    return f"repository:{repository.pk}{':' + target if target else ''}"


def delivery_seen(target: str, delivery: Delivery) -> bool:
    """Whether this delivery reached `target` before (a sender's retry, or a replay);
    a delivery without an id is never known."""
    seen = WebhookDelivery.objects.filter(target=target, delivery_id=delivery.delivery_id)
    return bool(delivery.delivery_id) and seen.exists()


def webhook_receive_for_repository(
    *,
    repository: Repository,
    delivery: Delivery,
    target: str = "",
    config_file: str = "",
    fresh: frozenset[int] = frozenset(),
) -> WebhookAnswer:
    """A repository webhook: fan out to every webhook-enabled stack of the pushed branch
    whose watch paths the push touched (the monorepo case). A custom `target` reaches
    only the stacks its `config_file` declared; `fresh` stacks (just made or changed by
    that file) deploy whatever paths the push touched."""
    receipt = _claim(repository_target(repository, target), delivery, repository=repository)
    if receipt is None:
        return WebhookAnswer(200, {"duplicate": True})
    if delivery.kind != "push":
        return _not_a_push(delivery)
    enabled = repository.stacks.filter(webhook_enabled=True).select_related("environment")  # read by _why_not
    if target:
        enabled = enabled.filter(config_file=config_file)
    tracking = [s for s in enabled if s.branch == delivery.branch]
    if not tracking:
        receipt.reason = f"no webhook-enabled stack tracks {delivery.ref or 'that ref'}"[:300]
        receipt.save(update_fields=["reason"])
        return WebhookAnswer(200, {"ignored": True, "reason": receipt.reason})
    deployed: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    for stack in tracking:
        # A delivery that reached a stack already is left out (`_Seen`, False).
        target_stack, fields = (
            f"repository:{repository.pk}>stack:{stack.pk}",
            {"stack": stack, "repository": repository},
        )
        reason, refused = _why_not(stack, delivery, any_path=stack.pk in fresh)
        if reason:
            if _ignore_once(target_stack, delivery, stack, reason, refused, **fields):
                ignored.append({"stackId": stack.pk, "reason": reason})
            continue
        deployment = _deploy_once(target_stack, delivery, stack, **fields)
        if isinstance(deployment, WebhookAnswer):
            continue
        deployed.append({"stackId": stack.pk, "deploymentId": deployment.pk if deployment else None})
    receipt.result = WebhookDelivery.Result.ACCEPTED if deployed else WebhookDelivery.Result.IGNORED
    receipt.save(update_fields=["result"])
    if not deployed:
        return WebhookAnswer(
            200, {"ignored": True, "reason": "no stack's watched paths were touched", "stacks": ignored}
        )
    return WebhookAnswer(202, {"deployments": deployed, "ignored": ignored})
