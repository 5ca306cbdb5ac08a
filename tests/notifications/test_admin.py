"""The brand's admin: awards read-only with their notification status; dead notifications replayable."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from notifications.models import Notification
from outbox.models import OutboxMessage

HOST = "brand-a.localhost"


@pytest.fixture
def admin_client(brand_a) -> Client:
    user = get_user_model().objects.create_superuser("crm-admin", "crm@example.com", "pw-long-enough-123")
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def test_award_changelist_shows_each_awards_notification_status(admin_client, make_award):
    sent = make_award(customer_id="cust-sent")
    dead = make_award(customer_id="cust-dead")
    Notification.objects.filter(pk=sent.notification.pk).update(status="sent")
    Notification.objects.filter(pk=dead.notification.pk).update(status="dead")

    response = admin_client.get("/admin/awards/award/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "cust-sent" in page and "cust-dead" in page
    assert "column-notification_status" in page
    assert ">sent<" in page and ">dead<" in page


def test_award_admin_filters_and_search(admin_client, make_award):
    award = make_award(customer_id="findme")
    make_award(customer_id="other")
    page = admin_client.get("/admin/awards/award/?q=findme").content.decode()
    assert "findme" in page and ">other<" not in page
    by_campaign = admin_client.get(f"/admin/awards/award/?campaign__id__exact={award.campaign_id}")
    assert by_campaign.status_code == 200
    assert "findme" in by_campaign.content.decode()
    assert admin_client.get("/admin/awards/award/?notification__status=queued").status_code == 200


def test_awards_are_read_only_in_the_admin(admin_client, make_award):
    award = make_award()
    assert admin_client.get("/admin/awards/award/add/").status_code == 403
    detail = admin_client.get(f"/admin/awards/award/{award.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert admin_client.post(f"/admin/awards/award/{award.pk}/delete/", {"post": "yes"}).status_code == 403


def test_the_replay_action_requeues_dead_notifications(admin_client, make_award):
    dead = make_award().notification
    queued = make_award().notification
    Notification.objects.filter(pk=dead.pk).update(status="dead", attempts=8)
    OutboxMessage.objects.all().delete()

    response = admin_client.post(
        "/admin/notifications/notification/",
        {
            "action": "replay_dead",
            "_selected_action": [str(dead.pk), str(queued.pk)],
            "replay_confirmed": "yes",
        },
        follow=True,
    )

    assert response.status_code == 200
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == ("queued", 0)
    assert OutboxMessage.objects.get().args == [str(dead.pk)]
    page = response.content.decode()
    assert "1 dead notification replayed: it is queued and will be sent again." in page
