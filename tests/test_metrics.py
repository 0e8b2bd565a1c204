"""GET /metrics: Prometheus text that its reference parser reads, whose counters move
with the deployments and webhooks the test makes; scraped only with the metrics token
or from an address the operator allowed (none by default, loopback included)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import compose_file
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "metrics-token-123"


@pytest.fixture(autouse=True)
def _metrics_token(settings: Any) -> None:
    settings.METRICS_TOKEN = METRICS_TOKEN


def _scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_deployments_and_webhooks(api: Any, app_repo: Any, make_stack: Any) -> None:
    stack = make_stack(app_repo, webhookEnabled=True)
    before = _scrape()

    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").status_code == 200
    app_repo.commit({"compose.yaml": compose_file("2")}, "version 2")
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").status_code == 200
    assert api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").status_code == 200  # unchanged
    good = hooks.github_push(app_repo, stack["webhookSecret"], before=hooks.ZERO, shas=[app_repo.head()])
    bad = hooks.github_push(app_repo, "not-the-secret", before=hooks.ZERO, shas=[app_repo.head()])
    for hook, code in ((good, 202), (bad, 401)):
        answer = Client().post(
            f"/api/git/stacks/{stack['id']}/webhook", hook.body, content_type="application/json", **hook.meta()
        )
        assert answer.status_code == code, answer.content
    after = _scrape()

    moved = {
        status: _value(after, "dockhand_deployments_total", status=status, trigger="api")
        - _value(before, "dockhand_deployments_total", status=status, trigger="api")
        for status in ("success", "skipped")
    }
    assert moved == {"success": 2, "skipped": 1}
    finished = _value(after, "dockhand_deployment_duration_seconds_count") - _value(
        before, "dockhand_deployment_duration_seconds_count"
    )
    assert finished >= 3  # the webhook's own sync may have finished too
    assert _value(after, "dockhand_deployment_duration_seconds_bucket", le="+Inf") == _value(
        after, "dockhand_deployment_duration_seconds_count"
    )
    assert _value(after, "dockhand_deployment_duration_seconds_sum") > 0
    webhooks = {
        result: _value(after, "dockhand_webhook_requests_total", provider="github", result=result)
        for result in ("accepted", "coalesced", "refused_signature")
    }
    assert webhooks["accepted"] + webhooks["coalesced"] == 1 and webhooks["refused_signature"] == 1
    assert _value(after, "dockhand_queue_depth") >= 0
    assert sum(v for (name, _), v in after.items() if name == "dockhand_stacks") == 1
    age = _value(
        after, "dockhand_stack_last_successful_sync_age_seconds", stack=stack["stackName"], environment="local"
    )
    assert 0 <= age < 120
    scraped = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").content.decode()
    assert stack["webhookSecret"] not in scraped


def test_metrics_need_the_token_or_an_address_the_operator_allowed(settings: Any) -> None:
    far = {"REMOTE_ADDR": "10.1.2.3"}
    refused = Client().get("/metrics", **far)
    assert (refused.status_code, refused.content.decode()) == (
        403,
        "Forbidden: give the metrics token (DOCKHAND_METRICS_TOKEN) as a bearer token\n",
    )
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}", **far).status_code == 200
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **far).status_code == 403
    assert Client().get("/metrics").status_code == 403  # this machine too: a same-host proxy's visitors
    settings.METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]  # DOCKHAND_METRICS_ALLOW, set explicitly
    assert Client().get("/metrics", **far).status_code == 200
    assert Client().get("/metrics").status_code == 403
