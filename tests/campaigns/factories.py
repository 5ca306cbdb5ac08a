from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import Campaign, ItemRule
from tests.partners.factories import PartnerFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft campaign valid from yesterday to in 30 days; `status=...` for other states."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = Campaign.Kind.CHRISTMAS
    status = Campaign.Status.DRAFT
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    purchase_channels = factory.LazyFunction(lambda: ["in_store", "ecommerce"])
    currency = "EUR"
    min_purchase_value = Decimal("50.00")
    partner = factory.SubFactory(PartnerFactory)
    reward = factory.LazyFunction(lambda: {"type": "voucher", "value": "10.00", "description": "10 € off"})
    notification = factory.LazyFunction(
        lambda: {
            "title": "You won!",
            "body": "{{ award.value }} {{ award.currency }} for {{ campaign.name }}",
        }
    )


class ItemRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ItemRule

    campaign = factory.SubFactory(CampaignFactory)
    kind = ItemRule.Kind.BLACKLIST
    match = ItemRule.Match.SKU
    value = factory.Sequence(lambda n: f"SKU-{n:05d}")
    multiplier = Decimal(1)
    bonus_per_unit = Decimal(0)
