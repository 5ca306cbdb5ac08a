"""The journey of issue 22 over 1,000 customers with a frozen clock: send → wait 2 days → branch on a
purchase → send A or B → exit. The counts per path equal a recount from the customers' events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import time_machine
from django.db.models import Count

from customers.models import Event
from journeys.models import Enrollment, StepRun
from journeys.selectors import step_counts
from journeys.services_tick import journeys_run_due, next_journey_work_at
from notifications.models import Message
from tests.journeys.helpers import active_journey, customers, ingest

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def test_a_thousand_customers_walk_the_welcome_journey(brand_a):
    journey = active_journey()
    ids = customers(1000)
    with time_machine.travel(T0, tick=False):
        ingest("signup", ids, T0)
        assert Enrollment.objects.filter(journey=journey, state="active").count() == 1000
        assert journeys_run_due()["advanced"] == 1000
    assert Enrollment.objects.filter(journey=journey, state="waiting", step_key="pause").count() == 1000
    assert Message.objects.filter(journey_step=f"{journey.pk}:welcome", status="delivered").count() == 1000

    buyers = sorted(random.Random(22).sample(ids, 371))
    late = buyers[:40]  # purchases after the branch ran: they must not count
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        ingest("purchase", buyers[40:], T0 + timedelta(days=1))
    with time_machine.travel(T0 + timedelta(days=1, hours=12), tick=False):
        assert journeys_run_due()["advanced"] == 0  # nobody is due before the two days are up
    assert next_journey_work_at() == T0 + timedelta(days=2)

    with time_machine.travel(T0 + timedelta(days=2, minutes=1), tick=False):
        assert journeys_run_due()["advanced"] == 1000
        ingest("purchase", late, T0 + timedelta(days=2, minutes=2))

    branch_time = T0 + timedelta(days=2, minutes=1)
    recount = set(
        Event.objects.filter(
            name="purchase", occurred_at__gte=branch_time - timedelta(days=3), occurred_at__lte=branch_time
        ).values_list("customer__customer_id", flat=True)
    )
    thanked = set(
        Message.objects.filter(journey_step=f"{journey.pk}:thanks").values_list("customer_id", flat=True)
    )
    nudged = set(
        Message.objects.filter(journey_step=f"{journey.pk}:nudge").values_list("customer_id", flat=True)
    )
    assert thanked == recount and len(thanked) == 331
    assert nudged == set(ids) - recount
    assert Message.objects.filter(status="delivered").count() == 2000
    assert Enrollment.objects.filter(journey=journey, state="exited", exit_reason="exit_step").count() == 1000
    assert next_journey_work_at() is None  # nothing left: the brand can sleep

    counts = {row["key"]: row for row in step_counts(journey)}
    assert {k: counts[k]["entered"] for k in counts} == {
        "welcome": 1000,
        "pause": 1000,
        "bought": 1000,
        "thanks": 331,
        "nudge": 669,
        "done": 1000,
    }
    assert counts["done"]["exited"] == 1000 and counts["pause"]["waiting"] == 0
    outcomes = dict(StepRun.objects.filter(step__key="bought").values_list("outcome").annotate(n=Count("id")))
    assert outcomes == {"matched": 331, "default": 669}
    # Each step ran once per enrollment, and the waits were closed when they ended.
    assert StepRun.objects.filter(enrollment__journey=journey).count() == 5000
    assert not StepRun.objects.filter(finished_at__isnull=True).exists()
