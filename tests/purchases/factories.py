"""Purchases and evaluations as rows (the pipeline's own code is not used to make them)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import Campaign
from purchases.models import Evaluation, Purchase
from tests.campaigns.factories import CampaignFactory

_sequence = itertools.count(1)


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


def make_purchase(**overrides) -> Purchase:
    number = next(_sequence)
    values = {
        "external_id": f"helper-{number}-{timezone.now().timestamp()}",
        "customer_id": f"customer-{number}",
        "channel": "in_store",
        "purchased_at": timezone.now(),
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "category": "food", "quantity": 1, "unit_price": "60.00"}],
        "total": Decimal("60.00"),
        "body_hash": "0" * 64,
    }
    values.update(overrides)
    return Purchase.objects.create(**values)
