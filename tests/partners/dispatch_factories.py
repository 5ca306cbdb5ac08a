"""Rows the dispatch tests need (purchases and evaluations are made here, not by the ingestion code)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import Campaign
from dispatches.models import Dispatch
from purchases.models import Evaluation, Purchase
from tests.campaigns.factories import CampaignFactory


class PurchaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Purchase

    external_id = factory.Sequence(lambda n: f"order-{n:06d}")
    customer_id = factory.Sequence(lambda n: f"customer-{n}")
    channel = Purchase.Channel.ECOMMERCE
    purchased_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    currency = "EUR"
    items = factory.LazyFunction(
        lambda: [{"sku": "SKU-1", "category": "toys", "quantity": 2, "unit_price": "40.00"}]
    )
    total = Decimal("80.00")
    body_hash = factory.Sequence(lambda n: f"{n:064x}")


class EvaluationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Evaluation

    purchase = factory.SubFactory(PurchaseFactory)
    campaign = factory.SubFactory(CampaignFactory, status=Campaign.Status.ACTIVE)
    campaign_version = factory.LazyAttribute(lambda o: o.campaign.version)
    eligible = True
    eligible_value = Decimal("80.00")
    reason = None
    evaluated_at = factory.LazyFunction(timezone.now)


def make_dispatch(
    *, partner, campaign=None, purchase=None, eligible_value: Decimal = Decimal("80.00"), **fields
):
    """An eligible evaluation and its pending dispatch to `partner`."""
    campaign = campaign or CampaignFactory(partner=partner, status=Campaign.Status.ACTIVE)
    purchase = purchase or PurchaseFactory()
    EvaluationFactory(purchase=purchase, campaign=campaign, eligible_value=eligible_value)
    return Dispatch.objects.create(purchase=purchase, campaign=campaign, partner=partner, **fields)
