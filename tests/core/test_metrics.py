"""/metrics exposes the documented series; database gauges come from the beat refresh."""

from __future__ import annotations

from django.test import override_settings
from prometheus_client import REGISTRY

from core import metrics
from core.tasks import refresh_queue_gauges_task
from dispatches.models import Dispatch
from monitoring.tasks import refresh_tenant_gauges_task
from outbox.models import OutboxMessage
from tests.campaigns.factories import CampaignFactory

DOCUMENTED_SERIES = [
    "cbo_purchases_received_total",
    "cbo_purchases_evaluated_total",
    "cbo_purchases_eligible_total",
    "cbo_evaluation_batch_seconds",
    "cbo_dispatch_attempts_total",
    "cbo_dispatch_latency_seconds",
    "cbo_notifications_total",
    "cbo_dispatch_backlog",
    "cbo_dispatch_dead_letters",
    "cbo_outbox_oldest_pending_seconds",
    "cbo_celery_queue_length",
]


def test_metrics_endpoint_exposes_the_documented_series(brands, db, client):
    metrics.PURCHASES_RECEIVED.labels(tenant="brand_a").inc(0)
    response = client.get("/metrics", HTTP_HOST="localhost")
    assert response.status_code == 200
    text = response.content.decode()
    for name in DOCUMENTED_SERIES:
        assert f"# HELP {name.removesuffix('_total')}" in text or f"# HELP {name}" in text, name


def test_metrics_are_not_served_on_a_brand_host(brand_a, client):
    assert client.get("/metrics", HTTP_HOST="brand-a.localhost").status_code == 404


def test_metrics_bearer_token(brands, db, client):
    with override_settings(METRICS_TOKEN="s3cret-token"):
        assert client.get("/metrics", HTTP_HOST="localhost").status_code == 401
        assert (
            client.get("/metrics", HTTP_HOST="localhost", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
        )
        ok = client.get("/metrics", HTTP_HOST="localhost", HTTP_AUTHORIZATION="Bearer s3cret-token")
        assert ok.status_code == 200


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_tenant_gauges_count_backlog_dead_letters_and_outbox_lag(brand_a):
    from tests.purchases.factories import make_purchase

    campaign = CampaignFactory(status="active")
    statuses = ["pending", "retrying", "retrying", "dead", "sent"]
    for status in statuses:
        Dispatch.objects.create(
            purchase=make_purchase(), campaign=campaign, partner=campaign.partner, status=status
        )
    OutboxMessage.objects.create(task_name="x")
    refresh_tenant_gauges_task.run()
    assert _sample("cbo_dispatch_backlog", tenant="brand_a") == 3
    assert _sample("cbo_dispatch_dead_letters", tenant="brand_a") == 1
    assert _sample("cbo_outbox_oldest_pending_seconds", tenant="brand_a") >= 0


def test_queue_gauge_reads_the_real_broker(brands, db, settings):
    result = refresh_queue_gauges_task.run()
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert result[queue] >= 0
    assert _sample("cbo_celery_queue_length", queue=queue) == result[queue]


def test_a_purchase_flow_moves_the_right_counters(ingest_client, django_capture_on_commit_callbacks):
    from campaigns.snapshots import clear_snapshot_cache
    from purchases.models import Purchase
    from purchases.services import purchases_evaluate
    from tests.purchases.conftest import purchase_body

    clear_snapshot_cache()
    campaign = CampaignFactory(status="active", min_purchase_value="50.00")
    label = {"tenant": "brand_a", "campaign": str(campaign.pk)}
    before = {
        "received": _sample("cbo_purchases_received_total", tenant="brand_a") or 0,
        "evaluated": _sample("cbo_purchases_evaluated_total", **label) or 0,
        "eligible": _sample("cbo_purchases_eligible_total", **label) or 0,
    }
    small = purchase_body(items=[{"sku": "S", "quantity": 1, "unit_price": "10.00"}], total="10.00")
    with django_capture_on_commit_callbacks(execute=True):
        response = ingest_client.post(
            "/api/v1/purchases/batch/", {"purchases": [purchase_body(), small]}, format="json"
        )
    assert response.status_code == 202
    assert _sample("cbo_purchases_received_total", tenant="brand_a") == before["received"] + 2

    with django_capture_on_commit_callbacks(execute=True):
        purchases_evaluate(purchase_ids=list(Purchase.objects.values_list("id", flat=True)))
    assert _sample("cbo_purchases_evaluated_total", **label) == before["evaluated"] + 2
    assert (
        _sample("cbo_purchases_eligible_total", **label) == before["eligible"] + 1
    )  # 60.00 ≥ 50, 10.00 < 50
    clear_snapshot_cache()
