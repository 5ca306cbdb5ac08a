"""Broadcasts (SPEC §14): a campaign message to a segment, batches, fallback, test send and preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from customers.models import Customer, Segment, SegmentMember
from notifications.broadcasts import broadcast_send_batch, broadcasts_run_due, campaign_message_schedule
from notifications.models import CampaignMessage, Message, Preference, Suppression
from notifications.selectors import message_status_counts
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def broadcast(brand_a, settings):
    settings.MESSAGE_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_PROVIDER = "console"
    campaign = CampaignFactory(status="active", partner=PartnerFactory(), name="Summer")
    segment = Segment.objects.create(name="all", kind="static")
    for n in range(10):
        customer = Customer.objects.create(
            customer_id=f"b-{n}", email=f"b{n}@example.com" if n != 3 else "", phone=f"+4915100000{n}"
        )
        SegmentMember.objects.create(segment=segment, customer=customer)
    Suppression.objects.create(channel="email", address="b1@example.com", reason="hard_bounce")
    Suppression.objects.create(channel="sms", address="+41510000001")  # not b-1's number
    Preference.objects.create(customer_id="b-2", channel="email", topic="", opted_in=False)
    Preference.objects.create(customer_id="b-2", channel="sms", topic="", opted_in=False)
    return CampaignMessage.objects.create(
        campaign=campaign,
        name="Summer sale",
        segment=segment,
        first_channel="email",
        second_channel="sms",
        email_subject="Hi {{ customer.customer_id }}",
        email_text="{{ campaign.name }} sale",
        email_html='<p>{{ campaign.name }} <a href="{{ unsubscribe_url }}">unsubscribe</a></p>',
        sms_text="{{ campaign.name }}: 20% off",
        batch_size=4,
        rate_per_second=2,
    )


def test_a_broadcast_reaches_every_member_once_with_fallback_in_batches(broadcast):
    from django.core import mail

    campaign_message_schedule(campaign_message_id=broadcast.pk, actor="system", now=NOW)
    assert broadcast_send_batch(campaign_message_id=broadcast.pk, now=NOW) == 4
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.recipients_done) == ("sending", 4)
    assert broadcast.next_batch_at == NOW + timedelta(seconds=2)  # 4 members at 2 a second
    assert broadcast_send_batch(campaign_message_id=broadcast.pk, now=NOW) == 0  # not due yet
    later = NOW + timedelta(seconds=10)
    while broadcasts_run_due(now=later):
        later += timedelta(seconds=10)
    broadcast.refresh_from_db()
    assert (broadcast.state, broadcast.recipients_done) == ("done", 10)
    rows = {m.customer_id: m for m in Message.objects.filter(broadcast=broadcast)}
    assert len(rows) == 10
    # b-1 suppressed on email, b-3 has no email: both fall back to SMS; b-2 opted out of both.
    assert (rows["b-1"].channel, rows["b-1"].status) == ("sms", "sent")
    assert (rows["b-3"].channel, rows["b-3"].status) == ("sms", "sent")
    assert (rows["b-2"].channel, rows["b-2"].status, rows["b-2"].skip_reason) == (
        "sms",
        "skipped",
        "unsubscribed",
    )
    assert rows["b-0"].channel == "email" and rows["b-0"].subject == "Hi b-0"
    assert "/unsubscribe/" in rows["b-0"].body_html and rows["b-0"].body_text == "Summer sale"
    assert len(mail.outbox) == 7
    assert all(
        m.extra_headers.get("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click" for m in mail.outbox
    )
    counts = message_status_counts(campaign_id=broadcast.campaign_id)
    assert counts["sent"] == 9 and counts["skipped:unsubscribed"] == 1


def test_scheduling_validates_templates_and_needs_a_segment(broadcast):
    from core.exceptions import ValidationFailed

    broadcast.sms_text = "{{ customer.password }}"
    broadcast.save()
    with pytest.raises(ValidationFailed) as caught:
        campaign_message_schedule(campaign_message_id=broadcast.pk, actor="system")
    assert "sms_text" in caught.value.message_dict


def test_preview_and_test_send_endpoints(broadcast, crm_client):
    base = f"/api/v1/campaigns/{broadcast.campaign_id}/messages/{broadcast.pk}"
    preview = crm_client.get(f"{base}/preview/?customer_id=b-3")
    assert preview.status_code == 200, preview.content
    assert preview.json()["channel"] == "sms" and preview.json()["body_text"] == "Summer: 20% off"
    assert crm_client.get(f"{base}/preview/?customer_id=nobody").status_code == 404
    assert crm_client.get(f"{base}/preview/").status_code == 400
    sent = crm_client.post(f"{base}/test/", {"channel": "email", "address": "qa@example.com"}, format="json")
    assert sent.status_code == 201, sent.content
    assert sent.json()["address"] == "qa@example.com" and sent.json()["subject"] == "Hi test-recipient"
    assert (
        crm_client.post(f"{base}/test/", {"channel": "push", "address": "x"}, format="json").status_code
        == 400
    )
    other = f"/api/v1/campaigns/{broadcast.campaign_id + 999}/messages/{broadcast.pk}"
    assert crm_client.get(f"{other}/preview/?customer_id=b-0").status_code == 404


def test_the_campaign_admin_page_shows_progress_and_outcome(broadcast, settings):
    from django.contrib.auth import get_user_model
    from django.test import Client

    campaign_message_schedule(campaign_message_id=broadcast.pk, actor="system", now=NOW)
    broadcast_send_batch(campaign_message_id=broadcast.pk, now=NOW)
    user = get_user_model().objects.create_superuser("bc-admin", "bc@example.com", "pw-long-enough-123")
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    page = client.get(f"/admin/campaigns/campaign/{broadcast.campaign_id}/change/").content.decode()
    assert "Summer sale" in page and "sent 3" in page and "skipped:unsubscribed 1" in page
    form = client.get(f"/admin/notifications/campaignmessage/{broadcast.pk}/change/")
    assert form.status_code == 200
    bad = client.post(
        "/admin/notifications/campaignmessage/add/",
        {
            "campaign": broadcast.campaign_id,
            "name": "x",
            "category": "marketing",
            "first_channel": "sms",
            "sms_text": "{% include 'x' %}",
            "batch_size": 10,
            "rate_per_second": 0,
        },
    )
    assert bad.status_code == 200 and "not allowed" in bad.content.decode()
