"""Prometheus metrics, read from the database when scraped.

Counting from the rows every process writes anyway (deployments, webhook deliveries)
rather than in per-process memory: any web process of a scaled-out install answers
the same numbers, and a restart loses none. The one thing no row records, a webhook
refused before it was verified, is counted in the shared cache.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator, Mapping

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from dockhand import ratelimit
from dockhand.models import AuditEvent
from stacks.models import Deployment, GitStack, WebhookDelivery

DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
_REFUSED = "metrics:webhook-refused:{provider}:{reason}"
_REFUSED_KEYS = "metrics:webhook-refused:keys"
PROVIDERS = ("github", "gitlab", "gitea", "generic", "unknown")
REFUSALS = ("signature", "too_large", "malformed", "disabled", "rate_limited")


def webhook_refused(provider: str, reason: str) -> None:
    """Count a webhook request refused before it became a delivery row."""
    key = _REFUSED.format(provider=provider if provider in PROVIDERS else "unknown", reason=reason)
    if not cache.add(key, 1, timeout=None):
        try:
            cache.incr(key)
        except ValueError:  # evicted in between
            cache.add(key, 1, timeout=None)


class _Collector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _deployments()
        yield from _webhooks()
        yield from _stacks()


def _deployments() -> Iterator[Metric]:
    total = CounterMetricFamily(
        "dockhand_deployments", "Deployments recorded, by status and trigger", labels=["status", "trigger"]
    )
    rows = Deployment.objects.values_list("status", "trigger").annotate(n=Count("pk")).order_by()
    for status, trigger, n in rows:
        total.add_metric([status, trigger], n)
    yield total

    done = Deployment.objects.filter(duration_ms__isnull=False)
    seen = done.aggregate(
        count=Count("pk"),
        total_ms=Sum("duration_ms"),
        **{f"le{b}": Count("pk", filter=Q(duration_ms__lte=b * 1000)) for b in DURATION_BUCKETS},
    )
    buckets = [(str(float(b)), seen[f"le{b}"]) for b in DURATION_BUCKETS] + [("+Inf", seen["count"])]
    histogram = HistogramMetricFamily("dockhand_deployment_duration_seconds", "How long finished deployments took")
    histogram.add_metric([], buckets, sum_value=(seen["total_ms"] or 0) / 1000)
    yield histogram

    taken = CounterMetricFamily(
        "dockhand_locks_taken_back",
        "Stack locks taken back from work whose worker died (the reaper, and recovery at start-up)",
    )
    taken.add_metric([], AuditEvent.objects.filter(action="stack.lock_taken_back").count())
    yield taken

    queued = GaugeMetricFamily("dockhand_queue_depth", "Deployments queued for a worker")
    queued.add_metric([], Deployment.objects.filter(status=Deployment.Status.QUEUED).count())
    yield queued


def _webhooks() -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "dockhand_webhook_requests", "Webhook requests, by provider and result", labels=["provider", "result"]
    )
    rows = WebhookDelivery.objects.values_list("provider", "result").annotate(n=Count("pk")).order_by()
    for provider, result, n in rows:
        requests.add_metric([provider, result], n)
    keys = [_REFUSED.format(provider=p, reason=r) for p in PROVIDERS for r in REFUSALS]
    refused: Mapping[str, int] = cache.get_many(keys)
    for provider in PROVIDERS:
        for reason in REFUSALS:
            n = refused.get(_REFUSED.format(provider=provider, reason=reason))
            if n:
                requests.add_metric([provider, f"refused_{reason}"], n)
    yield requests


def _stacks() -> Iterator[Metric]:
    by_status = GaugeMetricFamily("dockhand_stacks", "Stacks, by sync status", labels=["sync_status"])
    counts = dict(GitStack.objects.values_list("sync_status").annotate(n=Count("pk")).order_by())
    for status in GitStack.SyncStatus.values:
        by_status.add_metric([status], counts.get(status, 0))
    yield by_status

    age = GaugeMetricFamily(
        "dockhand_stack_last_successful_sync_age_seconds",
        "Seconds since the stack's branch was last found deployed (a deploy or an unchanged check)",
        labels=["stack", "environment"],
    )
    now = timezone.now()
    last_ok = (
        GitStack.objects.annotate(
            ok_at=Max(
                "deployments__finished_at",
                filter=Q(deployments__status__in=[Deployment.Status.SUCCESS, Deployment.Status.SKIPPED]),
            )
        )
        .filter(ok_at__isnull=False)
        .values_list("name", "environment__name", "ok_at")
    )
    for name, environment, at in last_ok:
        age.add_metric([name, environment], (now - at).total_seconds())
    yield age


_REGISTRY = CollectorRegistry(auto_describe=False)
_REGISTRY.register(_Collector())


def exposition() -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(_REGISTRY)


def may_scrape(authorization: str, address: str) -> bool:
    """A bearer DOCKHAND_METRICS_TOKEN, or a client address DOCKHAND_METRICS_ALLOW lists
    (none unless the operator lists some: loopback is where a same-host proxy's
    visitors come from)."""
    if settings.METRICS_TOKEN and authorization.startswith("Bearer "):
        return hmac.compare_digest(authorization[7:].encode(), settings.METRICS_TOKEN.encode())
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.METRICS_ALLOW)


REFUSED = "Forbidden: give the metrics token (DOCKHAND_METRICS_TOKEN) as a bearer token\n"


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text, for a bearer metrics token or an allow-listed address."""
    if not may_scrape(request.headers.get("Authorization", ""), ratelimit.client_ip(request)):
        return HttpResponse(REFUSED, status=403, content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
