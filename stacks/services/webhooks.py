"""Acting on verified webhooks: replay protection, the branch/skip/path rules, and the
sync through the one pipeline (coalesced while a sync runs)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from gitsync.models import Repository
from gitsync.services.webhook_payloads import Delivery, ignore_reason
from stacks.models import Deployment, GitStack, NotifyEvent, WebhookDelivery
from stacks.services.notifications import stack_notify
from stacks.services.sync import auto_sync_refusal, stack_sync_coalesced

MAX_BODY = 1024 * 1024


@dataclass
class WebhookAnswer:
    """HTTP status and JSON body for the sender; `deployment` for `?wait=true`."""

    status: int
    body: dict[str, Any]
    deployment: Deployment | None = None


def _claim(target: str, delivery: Delivery, **fields: Any) -> WebhookDelivery | None:
    """Record the delivery for `target`; None if that delivery id was seen before."""
    try:
        with transaction.atomic():
            return WebhookDelivery.objects.create(
                target=target,
                provider=delivery.provider,
                event=delivery.event[:100],
                delivery_id=delivery.delivery_id,
                ref=delivery.ref[:300],
                result=WebhookDelivery.Result.IGNORED,
                **fields,
            )
    except IntegrityError:
        return None


def _not_a_push(delivery: Delivery) -> WebhookAnswer:
    if delivery.kind == "ping":
        return WebhookAnswer(200, {"ok": True, "event": delivery.event})
    return WebhookAnswer(200, {"ignored": True, "reason": f"event {delivery.event!r} is not a push"})


def _deploy(record: WebhookDelivery, stack: GitStack) -> Deployment | None:
    deployment = stack_sync_coalesced(stack=stack, trigger=Deployment.Trigger.WEBHOOK)
    record.result = WebhookDelivery.Result.ACCEPTED if deployment else WebhookDelivery.Result.COALESCED
    record.reason = "" if deployment else "a sync was running: one follow-up sync will run after it"
    if deployment and deployment.status == Deployment.Status.PENDING_APPROVAL:
        record.reason = "the environment requires approval: the deploy waits for an admin"
    record.deployment = deployment
    record.save(update_fields=["result", "reason", "deployment"])
    return deployment


def _why_not(stack: GitStack, delivery: Delivery, *, any_path: bool = False) -> str:
    """Why this push does not deploy the stack ('' when it does). A push to its branch
    that an automatic sync may not deploy (paused, locked) leaves it out of sync: told.
    `any_path`: its watch paths do not matter (a stack its config file just made or changed)."""
    ignored = ignore_reason(delivery, branch=stack.branch, watch_paths=[] if any_path else stack.watch_paths)
    if ignored:
        return ignored
    refusal = auto_sync_refusal(stack)
    if refusal:
        stack_notify(stack, NotifyEvent.OUT_OF_SYNC, detail=f"A push to {stack.branch} was not deployed: {refusal}")
    return refusal


def webhook_receive_for_stack(*, stack: GitStack, delivery: Delivery) -> WebhookAnswer:
    """A stack's own webhook: deploy when the push concerns its branch and paths."""
    if delivery.provider == "generic" and not delivery.ref:
        # A generic sender may just say "deploy": it means this stack's branch.
        delivery = dataclasses.replace(delivery, kind="push", ref=f"refs/heads/{stack.branch}")
    record = _claim(f"stack:{stack.pk}", delivery, stack=stack, repository_id=stack.repository_id)
    if record is None:
        return WebhookAnswer(200, {"duplicate": True})
    if delivery.kind != "push":
        answer = _not_a_push(delivery)
        record.reason = str(answer.body.get("reason", delivery.event))[:300]
        record.save(update_fields=["reason"])
        return answer
    reason = _why_not(stack, delivery)
    if reason:
        record.reason = reason[:300]
        record.save(update_fields=["reason"])
        return WebhookAnswer(200, {"ignored": True, "reason": reason})
    deployment = _deploy(record, stack)
    if deployment is None:
        return WebhookAnswer(202, {"deploymentId": None, "coalesced": True, "message": record.reason})
    if deployment.status == Deployment.Status.PENDING_APPROVAL:
        return WebhookAnswer(
            202, {"deploymentId": deployment.pk, "status": deployment.status, "message": record.reason}
        )
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
        record = _claim(f"repository:{repository.pk}>stack:{stack.pk}", delivery, stack=stack, repository=repository)
        if record is None:
            continue  # this delivery reached this stack already
        reason = _why_not(stack, delivery, any_path=stack.pk in fresh)
        if reason:
            record.reason = reason[:300]
            record.save(update_fields=["reason"])
            ignored.append({"stackId": stack.pk, "reason": reason})
            continue
        deployment = _deploy(record, stack)
        deployed.append({"stackId": stack.pk, "deploymentId": deployment.pk if deployment else None})
    receipt.result = WebhookDelivery.Result.ACCEPTED if deployed else WebhookDelivery.Result.IGNORED
    receipt.save(update_fields=["result"])
    if not deployed:
        return WebhookAnswer(
            200, {"ignored": True, "reason": "no stack's watched paths were touched", "stacks": ignored}
        )
    return WebhookAnswer(202, {"deployments": deployed, "ignored": ignored})
