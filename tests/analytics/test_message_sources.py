"""Messages (SPEC §14) in the analytics: a sent campaign message is an impression, its cost counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from analytics.models import CampaignHourlyFigures
from analytics.services import analytics_refresh, hour_floor
from notifications.models import Message
from tests.campaigns.factories import CampaignFactory


def test_sent_messages_are_impressions_with_their_cost(brand_a):
    campaign = CampaignFactory()
    sent_at = hour_floor(timezone.now() - timedelta(hours=2)) + timedelta(minutes=10)
    for n, status in enumerate(["sent", "delivered", "skipped"]):
        Message.objects.create(
            customer_id=f"c-{n}",
            channel="sms",
            status=status,
            campaign=campaign,
            variant="B",
            cost=Decimal("0.0450") if status != "skipped" else None,
            sent_at=sent_at if status != "skipped" else None,
        )
    analytics_refresh(since=sent_at - timedelta(days=1))
    [row] = CampaignHourlyFigures.objects.filter(campaign=campaign)
    assert (row.variant, row.hour, row.impressions, row.clicks) == ("B", hour_floor(sent_at), 2, 0)
    assert row.cost == Decimal("0.0900")
