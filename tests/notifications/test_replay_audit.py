"""Replaying a dead notification is audited with who asked for it (admin, API or command)."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import Client

from core.models import AuditEvent
from notifications.models import Notification


def dead(notification: Notification) -> Notification:
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.DEAD, attempts=8, last_error="HTTP 500"
    )
    return Notification.objects.get(pk=notification.pk)


def test_api_replay_records_the_key_and_the_reset(crm_client, make_award):
    notification = dead(make_award().notification)
    response = crm_client.post(f"/api/v1/notifications/{notification.pk}/replay/", HTTP_X_REQUEST_ID="req-n1")
    assert response.status_code == 200, response.json()
    event = AuditEvent.objects.get(action="notification.replayed", object_id=str(notification.pk))
    assert (event.actor, event.request_id, event.object_type) == (
        "api-key:test crm",
        "req-n1",
        "notifications.notification",
    )
    assert event.changes["status"] == {"before": "dead", "after": "queued"}
    assert event.changes["attempts"] == {"before": 8, "after": 0}
    assert event.changes["last_error"] == {"before": "HTTP 500", "after": ""}


def test_admin_and_command_replays_name_their_actor(brand_a, make_award, django_user_model):
    by_admin, by_command = dead(make_award().notification), dead(make_award().notification)
    user = django_user_model.objects.create_superuser("nina", "nina@brand-a.localhost", "pw")
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    client.post(
        "/admin/notifications/notification/",
        {"action": "replay_dead", "_selected_action": [str(by_admin.pk)], "replay_confirmed": "yes"},
    )
    assert (
        AuditEvent.objects.get(action="notification.replayed", object_id=str(by_admin.pk)).actor
        == "user:nina"
    )
    call_command(
        "replay_dead_notifications", schema="brand_a", campaign=by_command.campaign_id, stdout=StringIO()
    )
    assert (
        AuditEvent.objects.get(action="notification.replayed", object_id=str(by_command.pk)).actor == "system"
    )
