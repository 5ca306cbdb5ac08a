"""Races of journeys, threads released by one barrier, each on its own connection:

* 8 concurrent entries of the same customers (the ingest hook, the enroll endpoint, a segment
  compute at once) → one live enrollment per customer (the partial unique index decides);
* 4 executors advancing the same 300 due enrollments at once → each step runs once, one message
  per customer and step (FOR UPDATE SKIP LOCKED: no two take the same enrollment).
"""

from __future__ import annotations

import threading
from collections import Counter

from django.db import connections
from django_tenants.utils import schema_context

from journeys.entry import enroll
from journeys.executor import enrollments_advance_due
from journeys.models import Enrollment, Journey, StepRun
from notifications.models import Message
from tests.support.committed import in_committed_connection

NAME = "Race journey"


def _clean() -> None:
    for journey in Journey.objects.filter(name=NAME):
        Message.objects.filter(journey_step__startswith=f"{journey.pk}:").delete()
        journey.delete()


def _journey() -> int:
    from journeys.services import journey_activate, journey_create

    steps = [
        {"key": "one", "kind": "send", "channel": "in_app", "body_text": "one", "next": "two"},
        {"key": "two", "kind": "send", "channel": "in_app", "body_text": "two"},
    ]
    journey = journey_create(data={"name": NAME, "entry": {"event": "race"}, "steps": steps}, actor="system")
    return journey_activate(journey_id=journey.pk, actor="system").pk


def _race(threads: int, work) -> list[BaseException]:
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            with schema_context("brand_a"):
                barrier.wait(timeout=30)
                work(index)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    return errors


def test_concurrent_entries_make_one_live_enrollment_per_customer(brands, db):
    in_committed_connection(_clean, schema="brand_a")
    try:
        journey_id = in_committed_connection(_journey, schema="brand_a")
        ids = [f"race-{n}" for n in range(50)]
        won: list[int] = []

        def enter(index: int) -> None:
            journey = Journey.objects.get(pk=journey_id)
            won.append(len(enroll(journey=journey, customer_ids=ids if index % 2 else list(reversed(ids)))))

        assert not _race(8, enter)
        counts = in_committed_connection(
            lambda: Counter(
                Enrollment.objects.filter(journey_id=journey_id).values_list("customer_id", flat=True)
            ),
            schema="brand_a",
        )
        assert sum(won) == 50 and set(counts.values()) == {1} and len(counts) == 50
    finally:
        in_committed_connection(_clean, schema="brand_a")


def test_concurrent_executors_run_each_step_once(brands, db):
    in_committed_connection(_clean, schema="brand_a")
    try:
        journey_id = in_committed_connection(_journey, schema="brand_a")
        ids = [f"race-{n}" for n in range(300)]
        in_committed_connection(
            lambda: enroll(journey=Journey.objects.get(pk=journey_id), customer_ids=ids), schema="brand_a"
        )
        taken: list[int] = []
        assert not _race(4, lambda index: taken.append(enrollments_advance_due(batch_size=25)))

        def outcome():
            return (
                StepRun.objects.filter(enrollment__journey_id=journey_id).count(),
                Counter(
                    Message.objects.filter(journey_step__startswith=f"{journey_id}:").values_list(
                        "customer_id", "journey_step"
                    )
                ),
                Enrollment.objects.filter(journey_id=journey_id, state="completed").count(),
            )

        runs, messages, completed = in_committed_connection(outcome, schema="brand_a")
        assert sum(taken) == 300 and completed == 300
        assert runs == 600 and len(messages) == 600 and set(messages.values()) == {1}
    finally:
        in_committed_connection(_clean, schema="brand_a")
