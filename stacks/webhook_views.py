"""Public webhook endpoints: authenticated by their secret alone, verified before the
body is parsed. Plain Django views: the raw body must reach the HMAC untouched."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dockhand import lanes, ratelimit
from dockhand.audit import acting_as
from gitsync import git
from gitsync.models import Repository
from gitsync.services import webhook_payloads as payloads
from stacks import metrics
from stacks.api.views import sync_result
from stacks.repository_config import ConfigInvalid, ConfigMissing, config_file_for, repository_discover
from stacks.services.sync import deployment_wait
from stacks.services.webhooks import (
    MAX_BODY,
    WebhookAnswer,
    delivery_seen,
    repository_target,
    webhook_receive_for_repository,
    webhook_receive_for_stack,
    webhook_stack,
)

log = logging.getLogger(__name__)


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is over the limit (checked before reading)."""
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
            return None
        body = request.body
    except (ValueError, RequestDataTooBig):
        return None
    return body if len(body) <= MAX_BODY else None


def _refused(request: HttpRequest, reason: str, response: JsonResponse) -> JsonResponse:
    metrics.webhook_refused(payloads.claimed(request.headers)[0], reason)
    return response


def _verified(request: HttpRequest, secret: str, what: str) -> payloads.Delivery | JsonResponse:
    # Failures are counted per target and sender address: a stranger's garbage cannot
    # lock the real provider out of a stack's webhook.
    failures = f"{what}:{ratelimit.client_ip(request)}"
    state = ratelimit.peek("webhook_failures", failures)
    if state.exhausted:
        too_many = ratelimit.too_many(state, "Too many failed webhook deliveries; try again later")
        return _refused(request, "rate_limited", too_many)
    body = _body(request)
    if body is None:
        return _refused(request, "too_large", _error("Payload too large (1 MiB at most)", 413))
    try:
        provider = payloads.verify(request.headers, body, secret)
    except payloads.SignatureError as exc:
        ratelimit.hit("webhook_failures", failures)
        log.warning("rejected webhook for %s from %s: %s", what, request.META.get("REMOTE_ADDR"), exc)
        return _refused(request, "signature", _error(f"Invalid webhook signature: {exc}", 401))
    try:
        return payloads.parse(provider, request.headers, body)
    except payloads.PayloadError as exc:
        return _refused(request, "malformed", _error(f"Malformed payload: {exc}", 400))


def _respond(request: HttpRequest, answer: WebhookAnswer) -> JsonResponse:
    if answer.deployment is not None and request.GET.get("wait", "").lower() in ("1", "true", "yes"):
        result = sync_result(deployment_wait(deployment=answer.deployment, timeout=settings.SYNC_WAIT_TIMEOUT))
        return JsonResponse(result.data, status=result.status_code)
    return JsonResponse(answer.body, status=answer.status)


@lanes.quick
@csrf_exempt
@require_POST
def stack_webhook(request: HttpRequest, pk: int) -> JsonResponse:
    """POST /api/git/stacks/<id>/webhook"""
    stack = webhook_stack(pk)
    if stack is None:
        return _error("Git stack not found", 404)
    delivery = _verified(request, stack.webhook_secret, f"stack {pk}")
    if isinstance(delivery, JsonResponse):
        return delivery
    if not stack.webhook_enabled:
        return _refused(request, "disabled", _error("Webhooks are disabled for this stack", 403))
    with acting_as(f"webhook:{delivery.provider}"):
        return _respond(request, webhook_receive_for_stack(stack=stack, delivery=delivery))


@csrf_exempt
@require_POST
def repository_webhook(request: HttpRequest, pk: int, target: str = "") -> JsonResponse:
    """POST /api/git/repositories/<id>/webhook[/<target>]: the stacks its config file
    (`.dockhand.yaml`, or `.dockhand.<target>.yaml`) declares are discovered first."""
    repository = Repository.objects.filter(pk=pk).first()
    if repository is None:
        return _error("Repository not found", 404)
    try:
        config_file = config_file_for(target)
    except ConfigInvalid as exc:
        return _error(str(exc), 404)
    delivery = _verified(request, repository.webhook_secret, f"repository {pk}")
    if isinstance(delivery, JsonResponse):
        return delivery
    with acting_as(f"webhook:{delivery.provider}"):
        discovered: dict[str, Any] | None = None
        fresh: frozenset[int] = frozenset()
        seen = delivery_seen(repository_target(repository, target), delivery)
        if delivery.kind == "push" and delivery.branch == repository.branch and not seen:
            try:
                found = repository_discover(repository=repository, target=target)
            except ConfigMissing as exc:
                if target:  # a custom target is its file: without it there is nothing to deploy
                    return _error(str(exc), 404)
            except (ConfigInvalid, git.GitError) as exc:
                if target:
                    return _error(str(exc), 502 if isinstance(exc, git.GitError) else 400)
                discovered = {"file": config_file, "error": str(exc)}  # its other stacks still deploy
            else:
                discovered, fresh = found.body(), frozenset(found.changed_ids)
        answer = webhook_receive_for_repository(
            repository=repository, delivery=delivery, target=target, config_file=config_file, fresh=fresh
        )
        if discovered is not None and answer.deployment is None:
            answer.body["discovery"] = discovered
        return _respond(request, answer)
