"""Archive test fixtures: a private archive folder, a completed campaign with rows in every table."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from awards.models import Award
from campaigns.models import Campaign, CampaignTransition
from dispatches.models import Dispatch, DispatchAttempt, Retraction, RetractionAttempt
from notifications.models import Notification
from purchases.models import Evaluation, Purchase
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory


@pytest.fixture
def archive_url(tmp_path, settings) -> str:
    url = str(tmp_path / "archive")
    settings.ARCHIVE_URL = url
    return url


@dataclass
class CampaignData:
    campaign: Campaign
    purchases: list[Purchase]


def make_purchase(
    *, received_days_ago: float = 40, evaluated: bool = True, total: str = "123.4567"
) -> Purchase:
    now = timezone.now()
    external_id = f"p-{uuid.uuid4().hex[:12]}"
    purchase = Purchase.objects.create(
        external_id=external_id,
        customer_id=f"c-{external_id[-4:]}",
        channel="in_store",
        purchased_at=now - timedelta(days=received_days_ago, minutes=5),
        currency="EUR",
        items=[{"sku": "SKU-1", "category": "toys", "quantity": 2, "unit_price": "61.72835"}],
        total=Decimal(total),
        body_hash=hashlib.sha256(external_id.encode()).hexdigest(),
        evaluated_at=now - timedelta(days=received_days_ago) if evaluated else None,
    )
    # received_at is auto_now_add: move it into the past explicitly.
    Purchase.objects.filter(pk=purchase.pk).update(received_at=now - timedelta(days=received_days_ago))
    purchase.refresh_from_db()
    return purchase


def make_completed_campaign_with_data(
    *, purchases: int = 12, completed_days_ago: int = 40, name: str | None = None
) -> CampaignData:
    """A completed campaign with evaluations, dispatches (+ attempts), awards, notifications, item rules and transitions."""
    now = timezone.now()
    extra = {"name": name} if name else {}
    campaign = CampaignFactory(
        status=Campaign.Status.COMPLETED,
        starts_at=now - timedelta(days=completed_days_ago + 30),
        ends_at=now - timedelta(days=completed_days_ago),
        completed_at=now - timedelta(days=completed_days_ago),
        min_purchase_value=Decimal("50.0000"),
        **extra,
    )
    ItemRuleFactory(
        campaign=campaign, kind="whitelist", match="category", value="toys", multiplier=Decimal("1.5")
    )
    ItemRuleFactory(campaign=campaign, kind="blacklist", match="sku", value="SKU-9")
    for from_status, to_status in (("draft", "active"), ("active", "completed")):
        CampaignTransition.objects.create(
            campaign=campaign, from_status=from_status, to_status=to_status, actor="user:alice"
        )
    made = []
    for index in range(purchases):
        purchase = make_purchase(total=f"{100 + index}.{index:04d}")
        eligible = index % 3 != 0
        Evaluation.objects.create(
            purchase=purchase,
            campaign=campaign,
            campaign_version=campaign.version,
            eligible=eligible,
            eligible_value=Decimal(f"{index}.{(index * 37) % 10000:04d}") if eligible else Decimal(0),
            reason=None if eligible else "below_minimum",
            evaluated_at=now - timedelta(days=completed_days_ago + 1, seconds=index),
        )
        if eligible:
            dispatch = Dispatch.objects.create(
                purchase=purchase,
                campaign=campaign,
                partner=campaign.partner,
                status=Dispatch.Status.SENT if index % 2 else Dispatch.Status.DEAD,
                attempts=2,
                last_status_code=200 if index % 2 else 400,
                sent_at=now - timedelta(days=completed_days_ago + 1) if index % 2 else None,
            )
            for number in (1, 2):
                DispatchAttempt.objects.create(
                    dispatch=dispatch,
                    number=number,
                    attempted_at=now - timedelta(days=completed_days_ago + 1, seconds=number),
                    status_code=503 if number == 1 else 200,
                    latency_ms=17 * number,
                    outcome="retry" if number == 1 else "sent",
                    error="upstream busy ✓" if number == 1 else "",
                )
            if index == 1:  # the purchase was refunded after its reward was sent: retracted (ADR 0025)
                retraction = Retraction.objects.create(
                    dispatch=dispatch,
                    partner=campaign.partner,
                    reason="below_minimum",
                    eligible_value=Decimal("1.5000"),
                    campaign_version=campaign.version,
                    refunded_at=now - timedelta(days=completed_days_ago),
                    status=Retraction.Status.SENT,
                    attempts=1,
                )
                RetractionAttempt.objects.create(
                    retraction=retraction,
                    number=1,
                    attempted_at=now - timedelta(days=completed_days_ago),
                    status_code=200,
                    latency_ms=9,
                    outcome="sent",
                )
            if index % 2:  # the partner answered with an award, and the customer was notified
                award = Award.objects.create(
                    partner=campaign.partner,
                    award_id=f"award-{campaign.pk}-{index}",
                    campaign=campaign,
                    customer_id=purchase.customer_id,
                    reward_type="voucher",
                    value=Decimal(f"10.{index:04d}"),
                    currency="EUR",
                    voucher_code=f"XMAS-{index}",
                    message="Merci ✓",
                    webhook_id=f"msg_{campaign.pk}_{index}",
                )
                Notification.objects.create(
                    customer_id=purchase.customer_id,
                    campaign=campaign,
                    award=award,
                    title="You won!",
                    body=f"10.{index:04d} EUR",
                    provider="console",
                    status="sent",
                    attempts=1,
                    sent_at=now - timedelta(days=completed_days_ago),
                )
        made.append(purchase)
    return CampaignData(campaign=campaign, purchases=made)


@pytest.fixture
def campaign_data(brand_a, archive_url) -> CampaignData:
    return make_completed_campaign_with_data()
