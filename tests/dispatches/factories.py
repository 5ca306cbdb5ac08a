"""Dispatches as rows: an eligible evaluation and its dispatch."""

from __future__ import annotations

from decimal import Decimal

from campaigns.models import Campaign
from dispatches.models import Dispatch
from tests.campaigns.factories import CampaignFactory
from tests.purchases.factories import EvaluationFactory, PurchaseFactory


def make_dispatch(
    *, partner, campaign=None, purchase=None, eligible_value: Decimal = Decimal("80.00"), **fields
):
    """An eligible evaluation and its pending dispatch to `partner`."""
    campaign = campaign or CampaignFactory(partner=partner, status=Campaign.Status.ACTIVE)
    purchase = purchase or PurchaseFactory()
    EvaluationFactory(purchase=purchase, campaign=campaign, eligible_value=eligible_value)
    return Dispatch.objects.create(purchase=purchase, campaign=campaign, partner=partner, **fields)
