"""Dispatches sent by several senders at once, and through the real Celery worker, on COMMITTED rows.

The other threads (their own DB connections) and the worker must see the rows,
so the rows are created and deleted in threads of their own (autocommit); the
test's own rolled-back transaction reads them (READ COMMITTED).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import pytest
from django.db import connection
from django.utils import timezone
from werkzeug import Response

from campaigns.models import Campaign
from core.delivery import BatchResult
from dispatches.models import Dispatch, DispatchAttempt
from dispatches.services import dispatch_send_batch, dispatch_send_due
from outbox.models import OutboxMessage
from outbox.services import outbox_enqueue
from partners.models import Partner
from purchases.models import Purchase
from tenants.models import Brand
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory
from tests.purchases.factories import PurchaseFactory
from tests.support.committed import in_committed_connection, sender_killed_mid_request

T = TypeVar("T")

SUBMISSIONS = "/submissions"


def in_own_connection(brand: Brand, work: Callable[[], T]) -> T:
    """Run `work` in a thread with its own DB connection (autocommit) in `brand`'s schema.

    The test itself runs in a rolled-back transaction; what happens here is COMMITTED,
    and the test's connection (READ COMMITTED) sees it on its next statement.
    """
    return in_committed_connection(work, schema=brand.schema_name)


def _delete_committed_rows() -> None:
    DispatchAttempt.objects.filter(dispatch__partner__slug__startswith="committed-").delete()
    Dispatch.objects.filter(partner__slug__startswith="committed-").delete()
    Purchase.objects.filter(external_id__startswith="committed-").delete()
    Campaign.objects.filter(partner__slug__startswith="committed-").delete()
    Partner.objects.filter(slug__startswith="committed-").delete()
    OutboxMessage.objects.filter(task_name="partners.send_dispatches").delete()


@pytest.fixture
def committed_brand_a(brand_a) -> Iterator[Brand]:
    """brand_a, where rows made through `in_own_connection` are committed; they are deleted afterwards."""
    in_own_connection(brand_a, _delete_committed_rows)
    yield brand_a
    in_own_connection(brand_a, _delete_committed_rows)


def _committed_dispatch(brand: Brand, httpserver, slug: str) -> Dispatch:
    def create() -> Dispatch:
        partner = PartnerFactory(slug=slug, submission_url=httpserver.url_for(SUBMISSIONS), timeout_seconds=5)
        return make_dispatch(partner=partner, purchase=PurchaseFactory(external_id=f"committed-{slug}"))

    return in_own_connection(brand, create)


def test_two_concurrent_senders_of_one_dispatch_make_one_request(committed_brand_a, httpserver):
    def slow_ok(request):
        time.sleep(0.5)  # both senders are in flight at once
        return Response("ok")

    httpserver.expect_request(SUBMISSIONS).respond_with_handler(slow_ok)
    brand = committed_brand_a
    dispatch = _committed_dispatch(brand, httpserver, "committed-concurrent")
    start = threading.Barrier(2)
    results: list[BatchResult] = []
    errors: list[BaseException] = []

    def sender() -> None:
        connection.set_tenant(brand)  # this thread's own connection
        try:
            start.wait(timeout=5)
            results.append(dispatch_send_batch(dispatch_ids=[dispatch.id]))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert len(httpserver.log) == 1
    assert sorted(r.sent for r in results) == [0, 1]
    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.SENT
    assert dispatch.attempts == 1
    assert DispatchAttempt.objects.filter(dispatch=dispatch).count() == 1


def test_the_outbox_message_is_sent_by_the_real_worker(committed_brand_a, httpserver, celery_worker_thread):
    """The agreed interface: the evaluation enqueues `partners.send_dispatches([[ids]])` via the outbox."""
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    dispatch = _committed_dispatch(committed_brand_a, httpserver, "committed-worker")

    # Committed in its own connection: the outbox relays it to the broker at once, in brand_a's schema.
    in_own_connection(
        committed_brand_a,
        lambda: outbox_enqueue(task_name="partners.send_dispatches", args=[[str(dispatch.id)]]),
    )

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        dispatch.refresh_from_db()
        if dispatch.status == Dispatch.Status.SENT:
            break
        time.sleep(0.1)
    assert dispatch.status == Dispatch.Status.SENT
    assert [r.headers["webhook-id"] for r, _ in httpserver.log] == [str(dispatch.id)]


SENDER_SCRIPT = """
import os, sys
import django
django.setup()
from django.db import connection
from django_tenants.utils import schema_context
from dispatches.services import dispatch_send_batch
with schema_context("brand_a"):
    dispatch_send_batch(dispatch_ids=[sys.argv[1]])
print("recorded", flush=True)
"""


def test_a_sender_killed_after_the_partner_answered_re_sends_once_with_the_same_key(
    committed_brand_a, httpserver
):
    """A real process is SIGKILLed while its request is at the partner: nothing recorded, lease left."""
    received: list[str] = []
    arrived = threading.Event()

    def accept_slowly(request):
        received.append(request.headers["Idempotency-Key"])
        arrived.set()
        time.sleep(1.0)  # the partner has accepted it; the sender dies before reading the answer
        return Response("ok")

    httpserver.expect_request(SUBMISSIONS).respond_with_handler(accept_slowly)
    brand = committed_brand_a
    dispatch = _committed_dispatch(brand, httpserver, "committed-killed")
    printed = sender_killed_mid_request(SENDER_SCRIPT, str(dispatch.id), arrived=arrived)
    assert b"recorded" not in printed
    time.sleep(1.2)  # let the partner's handler finish

    dispatch.refresh_from_db()
    assert (dispatch.status, dispatch.attempts) == ("pending", 1)
    assert dispatch.claimed_until is not None  # the dead sender's lease
    assert not DispatchAttempt.objects.filter(dispatch=dispatch).exists()
    # While the lease holds, nobody re-sends; once it has expired, the sweep does, once.
    assert in_own_connection(brand, lambda: dispatch_send_batch(dispatch_ids=[dispatch.id])).claimed == 0
    in_own_connection(
        brand,
        lambda: Dispatch.objects.filter(pk=dispatch.pk).update(
            claimed_until=timezone.now() - timedelta(seconds=1)
        ),
    )
    result = in_own_connection(brand, dispatch_send_due)

    assert result.sent == 1
    assert received == [str(dispatch.id), str(dispatch.id)]  # the same Idempotency-Key, two requests in all
    dispatch.refresh_from_db()
    assert (dispatch.status, dispatch.attempts) == ("sent", 2)
    outcomes = list(
        DispatchAttempt.objects.filter(dispatch=dispatch).values_list("number", "outcome", "status_code")
    )
    assert outcomes == [(1, "retry", None), (2, "sent", 200)]
