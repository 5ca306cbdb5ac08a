from __future__ import annotations

import pytest

from awards.services import AwardData, award_receive
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory, make_whsec


@pytest.fixture
def gateway(httpserver, settings):
    """The brand's push gateway: a real local HTTP server behind the `webhook` provider."""
    settings.NOTIFICATION_PROVIDER = "webhook"
    settings.PUSH_GATEWAY_URL = httpserver.url_for("/push")
    settings.PUSH_GATEWAY_SECRET = make_whsec()
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 1
    return httpserver


@pytest.fixture
def make_award(brand_a):
    """`make_award(**fields)` → an award received through the service (so with its notification)."""

    def make(campaign=None, **fields):
        campaign = campaign or CampaignFactory(status="active", partner=PartnerFactory())
        data = AwardData(
            **{
                "award_id": fields.pop("award_id", f"aw-{make.counter}"),
                "customer_id": "cust-1",
                "campaign_id": campaign.pk,
                "reward_type": "voucher",
                "currency": "EUR",
                **fields,
            }
        )
        make.counter += 1
        award, _ = award_receive(partner=campaign.partner, webhook_id=f"msg-{data.award_id}", data=data)
        return award

    make.counter = 0
    return make
