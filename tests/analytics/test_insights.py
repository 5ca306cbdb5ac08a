"""GET /campaigns/{id}/insights/ (SPEC §17): rules on the metrics, the budget and the experiment; every number
in a sentence is one of the facts the metrics gave."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics import insights
from analytics.models import CampaignDailyFigures
from campaigns.budgets import budget_reserve, budget_set
from campaigns.models import Campaign
from experiments.models import Experiment, VariantTotals
from experiments.services import VariantSpec, experiment_create
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def numbers_only_from_facts(body: dict) -> None:
    allowed = {n for value in body["facts"].values() for n in NUMBER.findall(value)}
    texts = [body["summary"]] + [
        s["text"] for kind in ("strengths", "weaknesses", "suggestions") for s in body[kind]
    ]
    for text in texts:
        invented = [n for n in NUMBER.findall(text) if n not in allowed]
        assert not invented, (text, invented, body["facts"])


def figures(campaign, *, impressions, clicks, conversions, revenue, cost, days=10):
    today = timezone.now().date()
    CampaignDailyFigures.objects.bulk_create(
        CampaignDailyFigures(campaign=campaign, day=today - timedelta(days=i), impressions=impressions,
                             clicks=clicks, conversions=conversions, revenue=Decimal(revenue), cost=Decimal(cost))
        for i in range(days)
    )  # fmt: skip


def codes(body, kind):
    return [s["code"] for s in body[kind]]


def test_a_strong_campaign_against_a_weak_brand(crm_client):
    star = CampaignFactory(status=Campaign.Status.ACTIVE)
    other = CampaignFactory(status=Campaign.Status.ACTIVE)
    figures(star, impressions=1000, clicks=100, conversions=40, revenue="800.00", cost="100.00")
    figures(other, impressions=5000, clicks=50, conversions=2, revenue="10.00", cost="90.00")
    body = crm_client.get(f"/api/v1/campaigns/{star.pk}/insights/").json()
    assert codes(body, "strengths") == ["ctr_above_brand", "conversion_above_brand", "pays_back"]
    assert body["weaknesses"] == []
    assert body["facts"]["ctr"] == "10.0%" and body["facts"]["brand_ctr"] == "2.5%"
    assert body["facts"]["roas"] == "8.00" and body["facts"]["roi"] == "700.0%"
    assert body["summary"].startswith(
        "Over the last 30 days: 10000 impressions, 1000 clicks, 400 conversions"
    )
    numbers_only_from_facts(body)


def test_a_weak_campaign_gets_weaknesses_and_suggestions(crm_client):
    dud = CampaignFactory(status=Campaign.Status.ACTIVE, starts_at=timezone.now() - timedelta(days=2),
                          ends_at=timezone.now() + timedelta(days=18))  # fmt: skip
    other = CampaignFactory(status=Campaign.Status.ACTIVE)
    figures(dud, impressions=5000, clicks=50, conversions=1, revenue="20.00", cost="90.00")
    figures(other, impressions=1000, clicks=100, conversions=40, revenue="800.00", cost="100.00")
    budget_set(campaign_id=dud.pk, actor="user:ana", kind="spend", limit=Decimal(100))
    budget_reserve(campaign_id=dud.pk, amount=Decimal(60), ref="walk-1")
    body = crm_client.get(f"/api/v1/campaigns/{dud.pk}/insights/").json()
    assert codes(body, "weaknesses") == ["ctr_below_brand", "conversion_below_brand", "loses_money",
                                          "budget_burns_fast"]  # fmt: skip
    assert codes(body, "suggestions") == ["test_message", "review_offer", "move_budget", "pace_budget"]
    assert body["facts"]["budget_used"] == "60.0%" and body["facts"]["time_elapsed"] == "10.0%"
    numbers_only_from_facts(body)


def test_experiments_running_and_concluded(crm_client):
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
    figures(campaign, impressions=10, clicks=1, conversions=0, revenue="0", cost="0")
    experiment = experiment_create(
        campaign=campaign, actor="system", variants=[VariantSpec("A"), VariantSpec("B7")]
    )
    VariantTotals.objects.create(
        experiment=experiment, bucket_version=1, variant="A", exposures=400, conversions=20
    )
    VariantTotals.objects.create(
        experiment=experiment, bucket_version=1, variant="B7", exposures=410, conversions=41
    )
    body = crm_client.get(f"/api/v1/campaigns/{campaign.pk}/insights/").json()
    running = next(s for s in body["suggestions"] if s["code"] == "experiment_running")
    assert "variant B7 is at 10.0%" in running["text"] and "control A at 5.0%" in running["text"]
    numbers_only_from_facts(body)
    Experiment.objects.filter(pk=experiment.pk).update(
        status="concluded", winner="B7", concluded_at=timezone.now()
    )
    body = crm_client.get(f"/api/v1/campaigns/{campaign.pk}/insights/").json()
    assert "experiment_winner" in codes(body, "strengths")
    numbers_only_from_facts(body)


def test_nothing_happened(crm_client):
    campaign = CampaignFactory()
    body = crm_client.get(f"/api/v1/campaigns/{campaign.pk}/insights/?from=2026-01-01&to=2026-01-07").json()
    assert codes(body, "weaknesses") == ["no_activity"] and codes(body, "suggestions") == ["check_delivery"]
    assert body["facts"]["days"] == "7"
    numbers_only_from_facts(body)


def test_bad_range_is_400_and_unknown_campaign_404(crm_client):
    campaign = CampaignFactory()
    assert crm_client.get(f"/api/v1/campaigns/{campaign.pk}/insights/?from=nope").status_code == 400
    assert crm_client.get("/api/v1/campaigns/999999/insights/").status_code == 404


@pytest.mark.parametrize("seed", range(200))
def test_random_figures_never_put_an_invented_number_in_a_sentence(seed):
    import random

    rng = random.Random(seed)

    def some() -> insights.Figures:
        clicks = rng.randint(0, 5000)
        return insights.Figures(rng.randint(clicks, 50000), clicks, rng.randint(0, clicks + 50),
                                Decimal(rng.randint(0, 10**6)) / 100, Decimal(rng.randint(0, 10**6)) / 100)  # fmt: skip

    arms = [
        insights.Arm(k, rng.randint(1, 900), rng.randint(0, 50), rng.randint(0, 50)) for k in ("A", "B2", "C")
    ]
    result = insights.summarise(
        campaign=some(), brand=some(), days=rng.randint(1, 90), currency=rng.choice(["EUR", "JPY", "BHD"]),
        budget=insights.BudgetUse(Decimal(rng.randint(0, 1000)), Decimal(rng.randint(1, 1000)),
                                  Decimal(rng.randint(0, 100)) / 100),
        experiment=insights.ExperimentOutcome(rng.randint(1, 10**6), rng.choice(["running", "concluded"]),
                                              rng.choice(["", "B2"]), rng.choice(["ctr", "conversion_rate"]), arms),
    )  # fmt: skip
    numbers_only_from_facts({
        "summary": result.summary, "facts": result.facts,
        **{kind: [{"text": s.text} for s in getattr(result, kind)] for kind in ("strengths", "weaknesses", "suggestions")},
    })  # fmt: skip
