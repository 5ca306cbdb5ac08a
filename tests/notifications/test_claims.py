"""Claim → send → record: the lease, fencing, a lost sender, and no lock or transaction during the call.

Several tests need rows that other connections see (racing threads, the HTTP
server's handler, a process of its own): those rows are COMMITTED through
`in_committed_connection` and deleted afterwards. They are written directly,
not through `award_receive`, so that no outbox message reaches a Celery worker
that another test may have started.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context
from werkzeug import Response

from awards.models import Award
from campaigns.models import Campaign
from notifications.models import Notification
from notifications.providers import SendResult
from notifications.services import (
    LOST_WORKER_ERROR,
    notification_claim,
    notification_record_outcome,
    notification_send,
    notifications_enqueue_due,
)
from outbox.models import OutboxMessage
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.support.committed import in_committed_connection, sender_killed_mid_request

COMMITTED_PREFIX = "committed-notify-"


def _json_response(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


# --- in the test's transaction ----------------------------------------------------------------------


def test_a_claim_leases_the_row_and_counts_the_attempt_before_sending(make_award):
    notification = make_award().notification
    token = uuid.uuid4()
    now = timezone.now()

    claimed = notification_claim(notification_id=notification.pk, claim_token=token, now=now)

    assert claimed is not None and claimed.attempt == 1
    assert claimed.message.notification_id == str(notification.pk)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.claim_token) == ("sending", 1, token)
    assert notification.claimed_until > now
    # While the lease holds, nobody else claims it, and the sweep leaves it alone.
    assert notification_claim(notification_id=notification.pk, claim_token=uuid.uuid4(), now=now) is None
    OutboxMessage.objects.all().delete()
    assert notifications_enqueue_due() == 0


def test_a_late_outcome_is_dropped_once_the_lease_was_taken_over(make_award):
    notification = make_award().notification
    first_token, second_token = uuid.uuid4(), uuid.uuid4()
    first = notification_claim(notification_id=notification.pk, claim_token=first_token, now=timezone.now())
    # The first sender stalls past its lease; another one claims the notification.
    Notification.objects.filter(pk=notification.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    second = notification_claim(notification_id=notification.pk, claim_token=second_token, now=timezone.now())
    assert second is not None and second.attempt == 2
    assert Notification.objects.get(pk=notification.pk).last_error == LOST_WORKER_ERROR

    late = notification_record_outcome(
        claimed=first,
        outcome=SendResult("late-id", status_code=200),
        claim_token=first_token,
        now=timezone.now(),
    )
    assert late is None
    notification.refresh_from_db()
    assert (notification.status, notification.claim_token, notification.provider_message_id) == (
        "sending",
        second_token,
        "",
    )

    recorded = notification_record_outcome(
        claimed=second,
        outcome=SendResult("gw-2", status_code=200),
        claim_token=second_token,
        now=timezone.now(),
    )
    assert (recorded.status, recorded.attempts, recorded.provider_message_id) == ("sent", 2, "gw-2")
    assert (recorded.claimed_until, recorded.claim_token, recorded.last_error) == (None, None, "")


def test_a_sender_that_died_mid_send_is_re_sent_by_the_sweep_with_the_same_id(gateway, make_award):
    gateway.expect_request("/push").respond_with_json({"message_id": "gw-after-crash"})
    notification = make_award().notification
    # The worker claimed it and died before recording (its request may have reached the gateway).
    notification_claim(notification_id=notification.pk, claim_token=uuid.uuid4(), now=timezone.now())
    OutboxMessage.objects.all().delete()

    assert notification_send(notification_id=notification.pk).status == "sending"  # a duplicate message
    assert gateway.log == []

    Notification.objects.filter(pk=notification.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert notifications_enqueue_due() == 1
    assert OutboxMessage.objects.get().args == [str(notification.pk)]

    sent = notification_send(notification_id=notification.pk)
    assert (sent.status, sent.attempts, sent.provider_message_id) == ("sent", 2, "gw-after-crash")
    assert [request.headers["webhook-id"] for request, _ in gateway.log] == [str(notification.pk)]


def test_a_notification_that_keeps_killing_its_sender_ends_dead(gateway, make_award, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    notification = make_award().notification
    for _ in range(2):  # two senders claim it and die
        assert notification_claim(
            notification_id=notification.pk, claim_token=uuid.uuid4(), now=timezone.now()
        )
        Notification.objects.filter(pk=notification.pk).update(
            claimed_until=timezone.now() - timedelta(seconds=1)
        )

    dead = notification_send(notification_id=notification.pk)

    assert (dead.status, dead.attempts, dead.claimed_until, dead.claim_token) == ("dead", 2, None, None)
    assert dead.last_error.startswith("max attempts (2) reached: worker lost")
    assert gateway.log == []


def test_the_status_column_takes_only_the_delivery_vocabulary(make_award):
    notification = make_award().notification
    for status in ("sending", "delivered", "skipped", "deferred"):
        Notification.objects.filter(pk=notification.pk).update(status=status)
    with pytest.raises(DatabaseError), transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(status="retrying")


def test_campaign_stats_count_a_notification_being_sent_as_queued(make_award):
    from notifications.selectors import notification_status_counts

    campaign = CampaignFactory(status="active", partner=PartnerFactory())
    sending = make_award(campaign=campaign).notification
    make_award(campaign=campaign)
    notification_claim(notification_id=sending.pk, claim_token=uuid.uuid4(), now=timezone.now())
    assert notification_status_counts(campaign_id=campaign.pk) == {
        "queued": 2,
        "sent": 0,
        "failed": 0,
        "dead": 0,
    }


# --- on committed rows ------------------------------------------------------------------------------


def _delete_committed_rows() -> None:
    Notification.objects.filter(campaign__partner__slug__startswith=COMMITTED_PREFIX).delete()
    Award.objects.filter(partner__slug__startswith=COMMITTED_PREFIX).delete()
    Campaign.objects.filter(partner__slug__startswith=COMMITTED_PREFIX).delete()
    Partner.objects.filter(slug__startswith=COMMITTED_PREFIX).delete()


@pytest.fixture
def committed_notification(brand_a) -> Iterator[Callable[[], Notification]]:
    """`committed_notification()` → a due `webhook` notification, committed; all are deleted afterwards."""
    in_committed_connection(_delete_committed_rows, schema="brand_a")

    def create() -> Notification:
        def make() -> Notification:
            partner = PartnerFactory(slug=f"{COMMITTED_PREFIX}{uuid.uuid4().hex[:8]}")
            campaign = CampaignFactory(status="active", partner=partner)
            award = Award.objects.create(
                partner=partner,
                award_id=f"aw-{uuid.uuid4().hex[:10]}",
                campaign=campaign,
                customer_id="cust-1",
                reward_type="voucher",
                webhook_id=f"msg-{uuid.uuid4().hex}",
            )
            return Notification.objects.create(
                customer_id="cust-1",
                campaign=campaign,
                award=award,
                title="Hi",
                body="You won",
                provider="webhook",
            )

        return in_committed_connection(make, schema="brand_a")

    yield create
    in_committed_connection(_delete_committed_rows, schema="brand_a")


def test_two_workers_racing_for_one_due_notification_make_one_request(
    gateway, committed_notification, brands
):
    def slow_accept(request):
        time.sleep(0.5)  # both senders are in flight at once
        return _json_response({"message_id": "gw-race"})

    gateway.expect_request("/push", method="POST").respond_with_handler(slow_accept)
    notification = committed_notification()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        connection.set_tenant(brands["brand_a"])  # this thread's own connection
        try:
            start.wait(timeout=5)
            notification_send(notification_id=notification.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert len(gateway.log) == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.provider_message_id) == (
        "sent",
        1,
        "gw-race",
    )


def test_no_transaction_and_no_row_lock_is_held_while_the_provider_is_called(
    gateway, committed_notification, brands
):
    """The gateway's handler looks at the sender's database session from a connection of its own."""
    notification = committed_notification()
    sender: dict[str, int] = {}
    seen: dict[str, object] = {}

    def inspect_sender(request):
        try:
            with schema_context("brand_a"):
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT state, xact_start FROM pg_stat_activity WHERE pid = %s", [sender["pid"]]
                    )
                    seen["session"] = cursor.fetchone()
                try:
                    with transaction.atomic():
                        row = (
                            Notification.objects.select_for_update(nowait=True)
                            .filter(pk=notification.pk)
                            .values_list("status", "attempts")
                            .get()
                        )
                    seen["row"] = row
                except DatabaseError as exc:  # NOWAIT: the row is locked by the sender
                    seen["row"] = f"locked: {exc}"
        finally:
            connection.close()
        return _json_response({"message_id": "gw-idle"})

    gateway.expect_request("/push", method="POST").respond_with_handler(inspect_sender)

    def send() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            sender["pid"] = cursor.fetchone()[0]
        return notification_send(notification_id=notification.pk).status

    assert in_committed_connection(send, schema="brand_a") == "sent"
    assert seen["session"] == ("idle", None)  # not "idle in transaction"
    assert seen["row"] == ("sending", 1)  # the claim is committed and the row is not locked


SENDER_SCRIPT = """
import sys
import django
django.setup()
from django_tenants.utils import schema_context
from notifications.services import notification_send
with schema_context("brand_a"):
    notification_send(notification_id=sys.argv[1])
print("recorded", flush=True)
"""


def test_a_sender_killed_during_the_call_leaves_its_lease_and_the_sweep_re_sends_once(
    gateway, committed_notification, settings
):
    """A real process is SIGKILLed while the gateway holds its request: nothing recorded, no lock left."""
    received: list[str] = []
    arrived = threading.Event()

    def accept_slowly(request):
        received.append(request.headers["webhook-id"])
        arrived.set()
        time.sleep(1.0)  # the gateway has it; the sender dies before reading the answer
        return _json_response({"message_id": f"gw-{len(received)}"})

    gateway.expect_request("/push", method="POST").respond_with_handler(accept_slowly)
    notification = committed_notification()
    printed = sender_killed_mid_request(
        SENDER_SCRIPT,
        str(notification.pk),
        arrived=arrived,
        extra_env={
            "PUSH_GATEWAY_URL": settings.PUSH_GATEWAY_URL,
            "PUSH_GATEWAY_SECRET": settings.PUSH_GATEWAY_SECRET,
        },
    )
    assert b"recorded" not in printed
    time.sleep(1.2)  # let the handler finish

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sending", 1)
    assert notification.claimed_until > timezone.now()  # the dead sender's lease
    # While the lease holds a re-delivered task message does nothing.
    assert (
        in_committed_connection(
            lambda: notification_send(notification_id=notification.pk).status, schema="brand_a"
        )
        == "sending"
    )
    assert len(received) == 1

    in_committed_connection(
        lambda: Notification.objects.filter(pk=notification.pk).update(
            claimed_until=timezone.now() - timedelta(seconds=1)
        ),
        schema="brand_a",
    )

    # What the task does when the sweep's message for the expired lease arrives (the sweep itself is
    # tested above; its outbox message must not reach another test's worker).
    resent = in_committed_connection(
        lambda: notification_send(notification_id=notification.pk), schema="brand_a"
    )

    assert received == [str(notification.pk), str(notification.pk)]  # the same webhook-id, twice in all
    assert (resent.status, resent.attempts, resent.provider_message_id) == ("sent", 2, "gw-2")
