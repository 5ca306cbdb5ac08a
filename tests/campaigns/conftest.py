from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.support.committed import in_committed_connection


@pytest.fixture
def partner(brand_a):
    return PartnerFactory(slug="acme-rewards")


@pytest.fixture
def campaign_payload(partner):
    """A valid create body (SPEC §2 fields)."""
    now = timezone.now()
    return {
        "name": "Christmas 2026",
        "kind": "christmas",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        "purchase_channels": ["in_store", "ecommerce"],
        "currency": "EUR",
        "min_purchase_value": "50.00",
        "partner": partner.slug,
        "reward": {"type": "voucher", "value": "10.00", "description": "10 € off"},
        "notification": {"title": "You won!", "body": "{{ award.value }} for {{ campaign.name }}"},
    }


@pytest.fixture
def make_campaign(brand_a):
    def make(**kwargs):
        return CampaignFactory(**kwargs)

    return make


def committed(schema: str, fn, *args, **kwargs):
    """`fn(*args, **kwargs)` committed inside `schema` (see tests/support/committed.py)."""
    return in_committed_connection(lambda: fn(*args, **kwargs), schema=schema)
