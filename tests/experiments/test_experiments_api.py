"""The experiment endpoints (SPEC §16) and the exposures refresh, end to end on the brand's schema."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from core.models import AuditEvent
from experiments.models import Experiment, Exposure, VariantTotals
from experiments.services import exposures_refresh
from tests.campaigns.factories import CampaignFactory
from tests.customers.conftest import make_customer
from tests.purchases.factories import PurchaseFactory

pytestmark = pytest.mark.django_db

BODY = {
    "variants": [
        {"key": "A", "weight": 1},
        {
            "key": "B",
            "weight": 1,
            "overrides": {"message": {"title": "Only today!"}, "reward": {"value": "15.00"}},
        },
    ],
    "min_sample_per_variant": 2,
}


@pytest.fixture
def campaign(brand_a):
    return CampaignFactory(status=Campaign.Status.ACTIVE)


def _create(client, campaign, body=BODY):
    return client.post(f"/api/v1/campaigns/{campaign.pk}/experiments/", body, format="json")


def test_create_answers_201_with_defaults(crm_client, campaign):
    response = _create(crm_client, campaign)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "running" and data["confidence"] == 0.95 and data["coverage"] == 1.0
    assert data["primary_metric"] == "conversion_rate"
    assert [v["key"] for v in data["variants"]] == ["A", "B"] and data["variants"][0]["control"]
    assert data["variants"][1]["overrides"] == {
        "message": {"title": "Only today!"},
        "reward": {"value": "15"},
    }
    assert AuditEvent.objects.filter(action="experiment.created", object_id=str(data["id"])).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"variants": [{"key": "A"}]}, "variants"),
        ({"variants": [{"key": "A"}, {"key": "A"}]}, "variants"),
        ({"variants": [{"key": "A"}, {"key": "B", "weight": 0}]}, "variants"),
        ({"variants": [{"key": "A"}, {"key": "B"}], "coverage": "1.5"}, "coverage"),
        ({"variants": [{"key": "A"}, {"key": "B"}], "primary_metric": "revenue"}, "primary_metric"),
        ({"variants": [{"key": "A"}, {"key": "B"}], "confidence": "1"}, "confidence"),
        ({"variants": "AB"}, "variants"),
    ],
)
def test_bad_input_is_400(crm_client, campaign, body, field):
    response = _create(crm_client, campaign, body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_one_running_experiment_per_campaign_and_404(crm_client, campaign):
    assert _create(crm_client, campaign).status_code == 201
    second = _create(crm_client, campaign)
    assert second.status_code == 409 and second.json()["error"]["code"] == "experiment_running"
    assert crm_client.post("/api/v1/campaigns/999999/experiments/", BODY, format="json").status_code == 404


def test_assign_is_ingest_and_sticky(crm_client, ingest_client, campaign):
    experiment_id = _create(crm_client, campaign).json()["id"]
    url = f"/api/v1/experiments/{experiment_id}/assign/"
    answers = {
        ingest_client.post(url, {"customer_id": "c-1"}, format="json").json()["variant"] for _ in range(5)
    }
    assert len(answers) == 1 and answers <= {"A", "B"}
    assert crm_client.post(url, {"customer_id": "c-1"}, format="json").status_code == 403
    assert ingest_client.post(url, {}, format="json").status_code == 400
    assert (
        ingest_client.post(
            "/api/v1/experiments/999999/assign/", {"customer_id": "x"}, format="json"
        ).status_code
        == 404
    )


def _expose(experiment_id, ingest_client, campaign, customers, *, buy: set[str], now):
    for customer_id in customers:
        variant = ingest_client.post(
            f"/api/v1/experiments/{experiment_id}/assign/", {"customer_id": customer_id}, format="json"
        ).json()["variant"]
        make_customer(
            customer_id, events=[("view", 0.1, {"campaign_id": campaign.pk, "variant": variant})], now=now
        )
        if customer_id in buy:
            PurchaseFactory(customer_id=customer_id, purchased_at=now - timedelta(hours=1))


def test_exposures_refresh_counts_once_and_results_follow(crm_client, ingest_client, campaign):
    now = timezone.now()
    experiment_id = _create(crm_client, campaign).json()["id"]
    customers = [f"exposed-{i}" for i in range(40)]
    _expose(experiment_id, ingest_client, campaign, customers, buy=set(customers[:10]), now=now)
    first = exposures_refresh(since=now - timedelta(hours=5), now=now)
    again = exposures_refresh(since=now - timedelta(hours=5), now=now)
    assert (first.exposures, first.conversions) == (40, 10)
    assert (again.exposures, again.conversions) == (0, 0)
    totals = VariantTotals.objects.filter(experiment_id=experiment_id)
    assert (
        sum(t.exposures for t in totals) == Exposure.objects.filter(experiment_id=experiment_id).count() == 40
    )
    assert sum(t.conversions for t in totals) == 10
    results = crm_client.get(f"/api/v1/experiments/{experiment_id}/results/").json()
    assert sum(v["exposures"] for v in results["variants"]) == 40
    assert {"rate", "ci95", "lift", "p_value", "p_best", "cohens_h"} <= set(results["variants"][1])
    assert results["srm"]["mismatch"] is False
    assert results["recommendation"] in {"no difference", "winner: A", "winner: B"} or results[
        "recommendation"
    ].startswith("keep running")


def test_conclude_needs_a_winner_then_rolls_it_out(crm_client, ingest_client, campaign):
    experiment_id = _create(crm_client, campaign).json()["id"]
    url = f"/api/v1/experiments/{experiment_id}/conclude/"
    refused = crm_client.post(url, {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_winner"
    assert crm_client.post(url, {"winner": "Z"}, format="json").status_code == 400
    version = campaign.version
    response = crm_client.post(url, {"winner": "B"}, format="json")
    assert response.status_code == 200 and response.json()["winner"] == "B"
    campaign.refresh_from_db()
    assert campaign.reward["value"] == "15" and campaign.notification["title"] == "Only today!"
    assert campaign.version == version + 1
    for customer_id in ("x-1", "x-2", "x-3"):
        assign = ingest_client.post(f"/api/v1/experiments/{experiment_id}/assign/", {"customer_id": customer_id},
                                    format="json")  # fmt: skip
        assert assign.json() == {"variant": "B"}
    assert crm_client.post(url, {"winner": "B"}, format="json").status_code == 409
    assert Experiment.objects.get(pk=experiment_id).concluded_at is not None
    assert Decimal(campaign.reward["value"]) == Decimal(15)


def test_ctr_experiments_count_first_clicks_once(crm_client, ingest_client, campaign):
    now = timezone.now()
    body = BODY | {"primary_metric": "ctr"}
    experiment_id = _create(crm_client, campaign, body).json()["id"]
    customers = [f"clicker-{i}" for i in range(12)]
    _expose(experiment_id, ingest_client, campaign, customers, buy=set(), now=now)
    from customers.models import Customer, Event

    for customer_id in customers[:5]:
        customer = Customer.objects.get(customer_id=customer_id)
        for minutes in (1, 2):  # two clicks each: one first click
            Event.objects.create(event_id=f"{customer_id}-click-{minutes}", customer=customer, name="click",
                                 properties={"campaign_id": campaign.pk}, occurred_at=now - timedelta(minutes=minutes))  # fmt: skip
    refreshed = exposures_refresh(since=now - timedelta(hours=5), now=now)
    assert (refreshed.exposures, refreshed.clicks) == (12, 5)
    assert exposures_refresh(since=now - timedelta(hours=5), now=now).clicks == 0
    results = crm_client.get(f"/api/v1/experiments/{experiment_id}/results/").json()
    assert results["primary_metric"] == "ctr"
    assert sum(v["conversions"] for v in results["variants"]) == 5  # successes are clicks for ctr


def test_the_hourly_tasks_run_in_the_brand(brand_a, campaign):
    from analytics.tasks import analytics_refresh_task
    from experiments.tasks import experiments_refresh_task

    assert set(analytics_refresh_task.run()) == {"conversions", "hourly_rows", "hourly_deleted", "daily_rows"}
    assert experiments_refresh_task.run() == {"exposures": 0, "clicks": 0, "conversions": 0}
