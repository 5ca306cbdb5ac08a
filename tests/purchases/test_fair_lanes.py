"""Brand lanes (outbox/lanes.py, ADR 0017): a backlog of one brand does not hold back another's purchase.

The broker is a FIFO list here, drained one message at a time in order, as one worker takes
them from the shared queue; the messages' tasks run for real against PostgreSQL and Redis.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import pytest
from django.db import connection, connections
from django_tenants.utils import schema_context

from config.celery import app
from core import task_names
from outbox import lanes
from outbox.models import OutboxMessage
from outbox.tasks import outbox_relay_task
from purchases.models import Purchase
from purchases.services import purchases_ingest
from tests.campaigns.factories import CampaignFactory
from tests.purchases.conftest import purchase_body


@pytest.fixture
def fifo_broker(monkeypatch):
    """send_task appends (schema, name, args) to a FIFO the test drains in order."""
    queue: deque = deque()
    monkeypatch.setattr(
        app,
        "send_task",
        lambda name, args=None, kwargs=None, **_: queue.append((connection.schema_name, name, args)),
    )
    return queue


def run_next(queue: deque) -> tuple[str, str]:
    schema, name, args = queue.popleft()
    with schema_context(schema):
        app.tasks[name].apply(args=args)
    return schema, name


def ingest_batches(schema: str, batches: int, size: int, capture) -> None:
    with schema_context(schema):
        for _ in range(batches):
            with capture(execute=True):
                purchases_ingest(bodies=[purchase_body() for _ in range(size)])


def unevaluated(schema: str) -> int:
    with schema_context(schema):
        return Purchase.objects.filter(evaluated_at__isnull=True).count()


def test_brand_b_single_purchase_is_evaluated_before_brand_a_backlog_drains(
    brand_a, brand_b, fifo_broker, django_capture_on_commit_callbacks
):
    for schema in ("brand_a", "brand_b"):
        with schema_context(schema):
            CampaignFactory(status="active")
    ingest_batches("brand_a", batches=40, size=20, capture=django_capture_on_commit_callbacks)
    # brand_a's 40 messages put only its lanes in the shared queue, not 40 tasks.
    assert [name for _, name, _ in fifo_broker] == [task_names.DRAIN_LANE] * 2
    ingest_batches("brand_b", batches=1, size=1, capture=django_capture_on_commit_callbacks)

    turns = 0
    while unevaluated("brand_b"):
        run_next(fifo_broker)
        turns += 1
    assert turns <= 3  # brand_a's two lane turns at most, then brand_b's
    assert unevaluated("brand_a") >= 800 - 2 * 2 * 20  # the backlog is far from drained

    while fifo_broker:
        run_next(fifo_broker)
    assert unevaluated("brand_a") == 0
    with schema_context("brand_a"):
        assert not OutboxMessage.objects.filter(relayed_at__isnull=True).exists()
        assert not any(
            lanes._redis().exists(lanes.lane_key("brand_a", s)) for s in range(2)
        )  # the lanes stopped and gave their flags back


def test_at_most_the_cap_of_lanes_start_when_many_commits_race(brand_a, fifo_broker, settings):
    settings.FAIR_LANES_PER_BRAND = 2
    threads_count = 12
    barrier = threading.Barrier(threads_count)
    started: list[bool] = []

    def start() -> None:
        connection.set_schema("brand_a")
        barrier.wait()
        started.append(lanes.lane_start())
        connections.close_all()

    threads = [threading.Thread(target=start) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert started.count(True) == 2
    assert sorted(args[0] for _, _, args in fifo_broker) == [0, 1]


def test_a_lane_lost_between_its_flag_and_its_task_is_started_again_by_the_sweep(
    brand_a, fifo_broker, settings, django_capture_on_commit_callbacks
):
    settings.FAIR_LANE_LEASE_SECONDS = 1
    CampaignFactory(status="active")
    # Both flags set, no task sent: the process died between the two steps.
    for slot in range(settings.FAIR_LANES_PER_BRAND):
        lanes._redis().set(lanes.lane_key("brand_a", slot), "dead", ex=1)
    with django_capture_on_commit_callbacks(execute=True):
        purchases_ingest(bodies=[purchase_body()])
    assert not fifo_broker  # every lane looks in flight
    outbox_relay_task.run()
    assert not fifo_broker  # the flags have not expired yet

    time.sleep(1.2)
    outbox_relay_task.run()
    assert [name for _, name, _ in fifo_broker] == [task_names.DRAIN_LANE]
    run_next(fifo_broker)
    assert unevaluated("brand_a") == 0


def test_a_message_taken_by_a_lane_that_died_is_taken_again_as_redelivered(
    brand_a, fifo_broker, settings, django_capture_on_commit_callbacks
):
    settings.FAIR_LANE_LEASE_SECONDS = 1
    CampaignFactory(status="active")
    with django_capture_on_commit_callbacks(execute=True):
        purchases_ingest(bodies=[purchase_body()])
    fifo_broker.clear()  # the lane task is lost with its worker...
    (taken,) = lanes._claim(5)  # ...after it took the message
    assert lanes._claim(5) == []  # leased: no other lane takes it meanwhile

    time.sleep(1.2)  # the flag and the lease expire
    outbox_relay_task.run()
    run_next(fifo_broker)
    assert unevaluated("brand_a") == 0
    message = OutboxMessage.objects.get(pk=taken.pk)
    assert message.relayed_at is not None and message.relay_attempts == 2
    assert Purchase.objects.get().evaluation_attempts == 1  # counted once, as a redelivery


def test_a_lane_task_that_waited_longer_than_its_flag_still_runs_if_its_slot_is_free(
    brand_a, fifo_broker, settings, django_capture_on_commit_callbacks
):
    settings.FAIR_LANE_LEASE_SECONDS = 1
    with django_capture_on_commit_callbacks(execute=True):
        purchases_ingest(bodies=[purchase_body()])
    time.sleep(1.2)  # the flag expired while the task sat in the queue
    run_next(fifo_broker)
    assert unevaluated("brand_a") == 0
