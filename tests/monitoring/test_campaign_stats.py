from decimal import Decimal

from django.utils import timezone

from dispatches.models import Dispatch
from purchases.models import Evaluation
from tests.campaigns.factories import CampaignFactory
from tests.purchases.factories import make_purchase


def _evaluate(campaign, *, eligible: bool, value: str, reason=None):
    purchase = make_purchase()
    Evaluation.objects.create(
        purchase=purchase,
        campaign=campaign,
        campaign_version=campaign.version,
        eligible=eligible,
        eligible_value=Decimal(value),
        reason=reason,
        evaluated_at=timezone.now(),
    )
    return purchase


def test_stats_count_the_campaign_rows_only(crm_client):
    campaign = CampaignFactory(status="active")
    other = CampaignFactory(status="active")
    eligible = [_evaluate(campaign, eligible=True, value=v) for v in ("60.005", "70.00")]
    _evaluate(campaign, eligible=False, value="10.00", reason="below_minimum")
    _evaluate(campaign, eligible=False, value="0", reason="outside_validity")
    _evaluate(campaign, eligible=False, value="0", reason="outside_validity")
    _evaluate(other, eligible=True, value="999.00")
    Dispatch.objects.create(purchase=eligible[0], campaign=campaign, partner=campaign.partner, status="sent")
    Dispatch.objects.create(purchase=eligible[1], campaign=campaign, partner=campaign.partner, status="dead")

    response = crm_client.get(f"/api/v1/campaigns/{campaign.pk}/stats/")
    assert response.status_code == 200
    body = response.json()
    assert body["evaluated"] == 5
    assert body["eligible"] == 2
    assert body["ineligible"] == {"below_minimum": 1, "outside_validity": 2}
    assert body["eligible_value"] == "130.01"  # half-up to the currency's minor unit
    assert body["dispatches"] == {"pending": 0, "sent": 1, "retrying": 0, "dead": 1}
    assert body["awards"] == 0
    assert set(body["notifications"]) == {"queued", "sent", "failed", "dead"}


def test_stats_need_the_crm_role_and_a_campaign_of_this_brand(ingest_client, crm_client):
    campaign = CampaignFactory()
    assert ingest_client.get(f"/api/v1/campaigns/{campaign.pk}/stats/").status_code == 403
    assert crm_client.get("/api/v1/campaigns/999999/stats/").status_code == 404
