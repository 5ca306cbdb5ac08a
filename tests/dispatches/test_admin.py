"""The Dispatch admin: list filters, read-only attempts, and the replay action (same service as the API)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from dispatches.models import Dispatch
from dispatches.services import dispatch_send_batch
from outbox.models import OutboxMessage
from tests.dispatches.factories import make_dispatch

CHANGELIST = "/admin/dispatches/dispatch/"


@pytest.fixture
def admin_client_a(brand_a) -> Client:
    user = get_user_model().objects.create_superuser("crm-admin", "crm@example.com", "pw-123456789")
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def test_the_changelist_filters_by_status(admin_client_a, partner):
    dead = make_dispatch(partner=partner, status="dead", attempts=1)
    pending = make_dispatch(partner=partner)

    response = admin_client_a.get(CHANGELIST + "?status__exact=dead")

    assert response.status_code == 200
    content = response.content.decode()
    assert str(dead.id) in content
    assert str(pending.id) not in content
    assert admin_client_a.get(CHANGELIST + f"?campaign__id__exact={dead.campaign_id}").status_code == 200
    assert admin_client_a.get(CHANGELIST + f"?partner__id__exact={partner.id}").status_code == 200


def test_the_change_page_shows_attempts_read_only(admin_client_a, partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request("/submissions").respond_with_data("nope", status=422)
    dispatch_send_batch(dispatch_ids=[dispatch.id])

    response = admin_client_a.get(f"{CHANGELIST}{dispatch.id}/change/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "HTTP 422: nope" in content
    assert 'name="attempt_log-0-number"' not in content  # not editable


def test_the_replay_action_replays_dead_ones_and_skips_the_rest(admin_client_a, partner, httpserver):
    dead = make_dispatch(partner=partner, status="dead", attempts=1)
    sent = make_dispatch(partner=partner, status="sent", attempts=1)
    httpserver.expect_request("/submissions").respond_with_data("ok")

    response = admin_client_a.post(
        CHANGELIST,
        {
            "action": "replay_dead",
            "_selected_action": [str(dead.id), str(sent.id)],
            "replay_confirmed": "yes",
        },
        follow=True,
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert "1 dead dispatch replayed: it is pending and will be sent again." in content
    dead.refresh_from_db()
    sent.refresh_from_db()
    assert (dead.status, dead.replay_count) == ("pending", 1)
    assert sent.status == "sent"
    [message] = OutboxMessage.objects.filter(task_name="partners.send_dispatches")
    dispatch_send_batch(dispatch_ids=message.args[0])
    dead.refresh_from_db()
    assert dead.status == Dispatch.Status.SENT
