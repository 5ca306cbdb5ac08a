"""POST /campaigns/{id}/forecast/ (SPEC §17): scenarios from the campaign's daily metrics, the fallback, 400s."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from tests.analytics.curves import seed_curve
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def url(campaign_id) -> str:
    return f"/api/v1/campaigns/{campaign_id}/forecast/"


def test_a_campaign_with_history_gets_three_scenarios_from_its_curve(crm_client):
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
    seed_curve(campaign, a=1000, b=80, days=120)
    response = crm_client.post(url(campaign.pk), {"spend": "3000.00", "horizon_days": 30}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["method"], body["fallback"], body["reason"], body["history_days"]) == (
        "diminishing_returns", False, None, 120)  # fmt: skip
    assert body["spend"] == "3000.00" and body["currency"] == "EUR"
    truth = 1000 * (1 - 2.718281828459045 ** (-100 / 80)) * 30
    revenues = [float(body[name]["revenue"]) for name in ("pessimistic", "baseline", "optimistic")]
    assert revenues == sorted(revenues)
    assert abs(revenues[1] - truth) / truth < 0.05
    for name in ("pessimistic", "baseline", "optimistic"):
        scenario = body[name]
        assert isinstance(scenario["revenue"], str) and scenario["revenue"].count(".") == 1
        assert scenario["roi"] == pytest.approx((float(scenario["revenue"]) - 3000) / 3000, abs=1e-3)
        assert {d["name"] for d in scenario["drivers"]} >= {
            "daily_spend",
            "marginal_roas",
            "saturation_daily_spend",
        }
        assert all(isinstance(d["text"], str) and d["text"] for d in scenario["drivers"])
    # Deterministic: the same request answers the same.
    again = crm_client.post(url(campaign.pk), {"spend": "3000.00", "horizon_days": 30}, format="json")
    assert again.json() == body


def test_under_14_days_falls_back_to_the_brand_average_and_says_so(crm_client):
    veteran = CampaignFactory(status=Campaign.Status.ACTIVE)
    seed_curve(veteran, a=1000, b=80, days=60)
    newcomer = CampaignFactory(status=Campaign.Status.ACTIVE)
    seed_curve(newcomer, a=500, b=80, days=5, seed=9)
    body = crm_client.post(url(newcomer.pk), {"spend": "700", "horizon_days": 7}, format="json").json()
    assert body["fallback"] is True and body["method"] == "brand_average"
    assert "5 days" in body["reason"] and "brand's average" in body["reason"]
    low, mid, high = (float(body[n]["revenue"]) for n in ("pessimistic", "baseline", "optimistic"))
    assert low <= mid * 0.5 + 0.02 and high >= mid * 1.5 - 0.02  # ±50 %, to the cent


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"horizon_days": 30}, "spend"),
        ({"spend": "0", "horizon_days": 30}, "spend"),
        ({"spend": "-5", "horizon_days": 30}, "spend"),
        ({"spend": "ten", "horizon_days": 30}, "spend"),
        ({"spend": "10.001", "horizon_days": 30}, "spend"),  # EUR has two decimals
        ({"spend": "100"}, "horizon_days"),
        ({"spend": "100", "horizon_days": 0}, "horizon_days"),
        ({"spend": "100", "horizon_days": 400}, "horizon_days"),
        ({"spend": "100", "horizon_days": "soon"}, "horizon_days"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(crm_client, payload, field):
    campaign = CampaignFactory()
    response = crm_client.post(url(campaign.pk), payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_unknown_campaign_is_404_and_ingest_is_403(crm_client, ingest_client):
    assert crm_client.post(url(999_999), {"spend": "1", "horizon_days": 1}, format="json").status_code == 404
    campaign = CampaignFactory()
    assert (
        ingest_client.post(url(campaign.pk), {"spend": "1", "horizon_days": 1}, format="json").status_code
        == 403
    )
