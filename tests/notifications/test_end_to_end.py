"""A signed award → outbox → real Celery worker → signed push to a local gateway (committed data)."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from awards.models import Award
from campaigns.models import Campaign
from notifications.models import Notification
from outbox.models import OutboxMessage
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory
from tests.notifications.helpers import award_body, post_award
from tests.partners.factories import PartnerFactory, make_whsec


@pytest.fixture
def committed_campaign(brands, django_db_blocker):
    with django_db_blocker.unblock():
        with schema_context("brand_a"):
            last_outbox_id = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
            partner = PartnerFactory(slug=f"e2e-{uuid.uuid4().hex[:8]}")
            campaign = CampaignFactory(
                status="active",
                partner=partner,
                notification={"title": "Prize", "body": "{{ award.voucher_code }}"},
            )
        try:
            yield campaign
        finally:
            with schema_context("brand_a"):
                Notification.objects.filter(campaign=campaign).delete()
                Award.objects.filter(partner=partner).delete()
                OutboxMessage.objects.filter(id__gt=last_outbox_id).delete()
                Campaign.objects.filter(pk=campaign.pk).delete()
                Partner.objects.filter(pk=partner.pk).delete()
            connection.set_schema_to_public()


def test_an_award_is_pushed_by_a_real_worker_through_the_outbox(
    committed_campaign, celery_worker_thread, django_db_blocker, httpserver, settings
):
    settings.NOTIFICATION_PROVIDER = "webhook"
    settings.PUSH_GATEWAY_URL = httpserver.url_for("/push")
    settings.PUSH_GATEWAY_SECRET = make_whsec()
    httpserver.expect_request("/push", method="POST").respond_with_json({"message_id": "gw-e2e"})
    partner = committed_campaign.partner

    with django_db_blocker.unblock():
        response = post_award(
            APIClient(HTTP_HOST="brand-a.localhost"),
            partner.slug,
            partner.secret,
            award_body(committed_campaign.pk, voucher_code="WIN-1"),
        )
        assert response.status_code == 201
        deadline = time.monotonic() + 20
        with schema_context("brand_a"):
            while time.monotonic() < deadline:
                notification = Notification.objects.get(campaign=committed_campaign)
                if notification.status == "sent":
                    break
                time.sleep(0.1)
    assert notification.status == "sent", notification.last_error
    assert notification.provider_message_id == "gw-e2e"
    request, _ = httpserver.log[0]
    payload = Webhook(settings.PUSH_GATEWAY_SECRET).verify(
        request.get_data(as_text=True), dict(request.headers)
    )
    assert (payload["title"], payload["body"], payload["tenant"]) == ("Prize", "WIN-1", "brand_a")


def test_the_end_to_end_test_leaves_no_rows_behind(brand_a):
    """Also makes pytest-django set the test database up when this module runs alone."""
    assert not Partner.objects.filter(slug__startswith="e2e-").exists()
