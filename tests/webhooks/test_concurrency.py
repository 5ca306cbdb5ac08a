"""Deliveries on COMMITTED rows: two senders at once, and the real Celery worker end to end.

Rows are created and deleted in threads of their own (autocommit, `in_committed_connection`);
the test's rolled-back transaction reads them (READ COMMITTED).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from standardwebhooks import Webhook
from werkzeug import Response

from core.actors import SYSTEM_ACTOR
from core.delivery import BatchResult
from outbox import events
from outbox.models import DomainEvent
from tenants.models import Brand
from tests.support.committed import in_committed_connection
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_deliveries_send, webhook_endpoint_create, webhook_events_fan_out


def _delete_committed_rows() -> None:
    WebhookEndpoint.objects.filter(description="committed").delete()
    DomainEvent.objects.filter(data__committed=True).delete()
    events.subscriptions_changed()


@pytest.fixture
def committed_brand_a(brand_a, settings) -> Iterator[Brand]:
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    in_committed_connection(_delete_committed_rows, schema=brand_a.schema_name)
    yield brand_a
    in_committed_connection(_delete_committed_rows, schema=brand_a.schema_name)


def _committed_endpoint(brand, receiver):
    return in_committed_connection(
        lambda: webhook_endpoint_create(
            actor=SYSTEM_ACTOR,
            url=receiver.url_for("/hooks"),
            event_types=["award.created"],
            description="committed",
        ),
        schema=brand.schema_name,
    )


def test_two_concurrent_senders_of_one_delivery_make_one_request(committed_brand_a, receiver):
    def slow_ok(request):
        time.sleep(0.5)  # both senders are in flight at once
        return Response("ok")

    receiver.expect_request("/hooks").respond_with_handler(slow_ok)
    brand = committed_brand_a
    _committed_endpoint(brand, receiver)

    def emit_and_fan_out():
        # Fanned out in the emitting transaction: the after-commit task, if a session worker runs,
        # finds no pending event, so the two senders below are the only ones.
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"committed": True})
            return webhook_events_fan_out()

    [delivery_id] = in_committed_connection(emit_and_fan_out, schema=brand.schema_name)
    start = threading.Barrier(2)
    results: list[BatchResult] = []
    errors: list[BaseException] = []

    def sender() -> None:
        connection.set_tenant(brand)  # this thread's own connection
        try:
            start.wait(timeout=5)
            results.append(webhook_deliveries_send(delivery_ids=[delivery_id]))
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
    assert len(receiver.log) == 1
    assert sorted(r.sent for r in results) == [0, 1]
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == "sent" and delivery.attempts == 1
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1


def test_an_event_committed_by_a_service_reaches_the_receiver_through_the_real_worker(
    committed_brand_a, receiver, celery_worker_thread
):
    receiver.expect_request("/hooks").respond_with_data("ok")
    secret = _committed_endpoint(committed_brand_a, receiver).secret

    def emit():
        with transaction.atomic():  # after its commit: the fan-out task, sent to the broker
            events.emit(events.EventType.AWARD_CREATED, {"committed": True, "award_id": "aw-w"})

    in_committed_connection(emit, schema=committed_brand_a.schema_name)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not receiver.log:
        time.sleep(0.1)
    [(request, _)] = receiver.log
    body = Webhook(secret).verify(request.get_data(), dict(request.headers))
    assert body["type"] == "award.created" and body["data"]["award_id"] == "aw-w"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not WebhookDelivery.objects.filter(status="sent").exists():
        time.sleep(0.1)
    assert WebhookDelivery.objects.get().status == "sent"
