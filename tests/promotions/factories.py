from decimal import Decimal

import factory

from promotions.models import PromoCode
from tests.campaigns.factories import CampaignFactory


class PromoCodeFactory(factory.django.DjangoModelFactory):
    """A single-use 10 % code of an active promotion campaign (EUR)."""

    class Meta:
        model = PromoCode

    campaign = factory.SubFactory(
        CampaignFactory, kind="promotion", status="active", min_purchase_value=Decimal(0)
    )
    code = factory.Sequence(lambda n: f"CODE{n:06d}")
    max_redemptions = 1
    benefit = factory.LazyFunction(lambda: {"type": "percent", "value": "10"})
