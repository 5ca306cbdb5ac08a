"""Messages in the brand's admin: forms (no JSON), suppressions added and removed through the service."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core.models import AuditEvent
from notifications.messages import message_send
from notifications.models import FrequencyRule, MessagingSettings, Suppression

HOST = "brand-a.localhost"


@pytest.fixture
def admin_client(brand_a) -> Client:
    user = get_user_model().objects.create_superuser("msgadmin", "a@example.com", "pw")
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def test_a_suppression_added_in_the_admin_is_normalised_and_audited(admin_client):
    response = admin_client.post(
        "/admin/notifications/suppression/add/",
        {"channel": "email", "address": " Eve@Example.COM ", "reason": "manual", "note": "asked by phone"},
    )
    assert response.status_code == 302, response.content[:500]
    suppression = Suppression.objects.get()
    assert suppression.address == "eve@example.com"
    assert AuditEvent.objects.filter(action="suppression.added", actor="user:msgadmin").exists()
    response = admin_client.post(
        "/admin/notifications/suppression/",
        {"action": "remove_selected", "_selected_action": [suppression.pk]},
    )
    assert response.status_code == 302
    assert not Suppression.objects.exists()
    assert AuditEvent.objects.filter(action="suppression.removed").exists()


def test_frequency_rules_and_quiet_hours_are_forms(admin_client):
    response = admin_client.post(
        "/admin/notifications/frequencyrule/add/",
        {"name": "3 a week", "channel": "", "max_messages": "3", "window_hours": "168", "active": "on"},
    )
    assert response.status_code == 302, response.content[:500]
    assert FrequencyRule.objects.get().max_messages == 3
    bad = admin_client.post(
        "/admin/notifications/frequencyrule/add/",
        {"name": "zero", "channel": "", "max_messages": "0", "window_hours": "1"},
    )
    assert bad.status_code == 200 and b"at least one message" in bad.content
    response = admin_client.post(
        "/admin/notifications/messagingsettings/add/",
        {
            "quiet_hours_enabled": "on",
            "quiet_start": "22:00",
            "quiet_end": "08:00",
            "cost_email": "0.001",
            "cost_sms_segment": "0.05",
            "cost_push": "0",
            "cost_in_app": "0",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert MessagingSettings.objects.get().quiet_end.hour == 8


def test_messages_changelist_and_record(admin_client):
    message = message_send(customer_id="c-1", channel="in_app", subject="Hello inbox")
    assert b"Hello inbox" in admin_client.get("/admin/notifications/message/?status=queued").content
    assert admin_client.get(f"/admin/notifications/message/{message.pk}/change/").status_code == 200
