"""The brand admin: endpoints with a form (event types as checkboxes), the secret once, actions, deliveries."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client

from outbox import events
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_fan_out_and_send

HOST = "brand-a.localhost"


@pytest.fixture
def editor(brand_a) -> Client:
    user = get_user_model().objects.create_user(
        "crm-editor", "e@example.com", "pw-long-enough-123", is_staff=True
    )
    user.groups.add(Group.objects.get(name="CRM editor"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


@pytest.fixture
def viewer(brand_a) -> Client:
    user = get_user_model().objects.create_user(
        "crm-viewer", "v@example.com", "pw-long-enough-123", is_staff=True
    )
    user.groups.add(Group.objects.get(name="CRM viewer"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def test_add_form_has_checkboxes_and_shows_the_secret_once(editor, receiver):
    page = editor.get("/admin/webhooks/webhookendpoint/add/").content.decode()
    assert 'type="checkbox" name="event_types" value="award.created"' in page
    response = editor.post(
        "/admin/webhooks/webhookendpoint/add/",
        {
            "url": receiver.url_for("/hooks"),
            "description": "CRM",
            "event_types": ["award.created", "campaign.status_changed"],
            "is_enabled": "on",
        },
    )
    assert response.status_code == 200, response.content[:500]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["award.created", "campaign.status_changed"]
    html = response.content.decode()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in html
    assert "no-store" in response["Cache-Control"]
    change_page = editor.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in change_page
    assert "award.created" in events.subscribed_event_types()


def test_a_private_url_is_a_form_error(editor, settings):
    settings.WEBHOOK_URL_ALLOW_PRIVATE = False
    response = editor.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": "http://10.0.0.5/hooks", "event_types": ["award.created"], "is_enabled": "on"},
    )
    assert response.status_code == 200
    assert "private" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_test_and_rotate_actions_and_delivery_replay(editor, make_endpoint, receiver):
    endpoint, secret = make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_data("ok")
    response = editor.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "send_test", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    assert "HTTP 200" in response.content.decode()
    response = editor.post(
        "/admin/webhooks/webhookendpoint/", {"action": "rotate_secret", "_selected_action": [endpoint.pk]}
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != secret and endpoint.secret in response.content.decode()
    assert endpoint.previous_secret == secret

    with transaction.atomic():
        events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
    webhook_fan_out_and_send()
    delivery = WebhookDelivery.objects.get(is_test=False)
    page = editor.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "attempt" in page.lower()
    editor.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.replay_count == 1


def test_a_viewer_looks_but_cannot_add_or_replay(viewer, make_endpoint):
    make_endpoint()
    assert viewer.get("/admin/webhooks/webhookendpoint/").status_code == 200
    assert viewer.get("/admin/webhooks/webhookdelivery/").status_code == 200
    assert viewer.get("/admin/webhooks/webhookendpoint/add/").status_code == 403
