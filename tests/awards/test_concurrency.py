"""Duplicate award deliveries racing each other: two threads, two DB connections, committed data.

pytest-django's transactional_db would truncate the public schema, so these
tests commit their rows themselves (inside django_db_blocker.unblock()) and
delete them at the end.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from awards.models import Award
from campaigns.models import Campaign
from notifications.models import Notification
from outbox.models import OutboxMessage
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory
from tests.notifications.helpers import award_body, post_award
from tests.partners.factories import PartnerFactory

HOST = "brand-a.localhost"


@pytest.fixture
def committed_campaign(brands, django_db_blocker):
    with django_db_blocker.unblock():
        with schema_context("brand_a"):
            last_outbox_id = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
            partner = PartnerFactory(slug=f"race-{uuid.uuid4().hex[:8]}")
            campaign = CampaignFactory(status="active", partner=partner)
        try:
            yield campaign
        finally:
            with schema_context("brand_a"):
                Notification.objects.filter(campaign=campaign).delete()
                Award.objects.filter(partner=partner).delete()
                OutboxMessage.objects.filter(id__gt=last_outbox_id, task_name="notifications.send").delete()
                Campaign.objects.filter(pk=campaign.pk).delete()
                Partner.objects.filter(pk=partner.pk).delete()
            connection.set_schema_to_public()


def _race(campaign, bodies_and_ids) -> list[int]:
    barrier = threading.Barrier(len(bodies_and_ids))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def deliver(body, msg_id):
        try:
            client = APIClient(HTTP_HOST=HOST)
            barrier.wait(timeout=10)
            statuses.append(
                post_award(
                    client, campaign.partner.slug, campaign.partner.secret, body, msg_id=msg_id
                ).status_code
            )
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=args) for args in bodies_and_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return sorted(statuses)


@pytest.mark.parametrize("same_webhook_id", [True, False])
def test_concurrent_duplicates_make_one_award_and_one_notification(
    committed_campaign, django_db_blocker, same_webhook_id
):
    with django_db_blocker.unblock():
        for round_number in range(4):
            body = award_body(committed_campaign.pk, award_id=f"race-{round_number}")
            if same_webhook_id:
                ids = [f"msg-{round_number}"] * 2
            else:
                ids = [f"msg-{round_number}-a", f"msg-{round_number}-b"]
            statuses = _race(committed_campaign, [(body, ids[0]), (body, ids[1])])
            assert statuses == [200, 201], statuses
        with schema_context("brand_a"):
            assert Award.objects.filter(partner=committed_campaign.partner).count() == 4
            assert Notification.objects.filter(campaign=committed_campaign).count() == 4
            notification_ids = [
                str(pk)
                for pk in Notification.objects.filter(campaign=committed_campaign).values_list(
                    "pk", flat=True
                )
            ]
            enqueued = [
                m.args[0]
                for m in OutboxMessage.objects.filter(task_name="notifications.send")
                if m.args[0] in notification_ids
            ]
            assert sorted(enqueued) == sorted(notification_ids)


def test_the_race_tests_leave_no_rows_behind(brand_a):
    """Also makes pytest-django set the test database up when this module runs alone."""
    assert not Partner.objects.filter(slug__startswith="race-").exists()
    assert not Award.objects.filter(award_id__startswith="race-").exists()
