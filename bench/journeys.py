"""Benchmark: 100,000 journey enrollments due at once, all advanced (SPEC §19, issue 22).

A throw-away brand (`bench_journeys`) is filled server-side: 100,000 customers with a phone, an
active journey `send sms → wait 2 days → exit`, and one enrollment per customer due now on its first
step. Then the executor the maintenance tick runs (`journeys.executor.enrollments_advance_due`, batches
of 500 taken FOR UPDATE SKIP LOCKED) advances them all: per batch the sends pass the deliverability
gate in set queries, the step runs and message rows are written, the messages are delivered on the
console SMS provider (logging off), and each enrollment moves into its wait.

Baseline, same run: `--baseline` enrollments of a second journey advanced one at a time
(batch_size=1: a transaction, the gate's reads and a delivery per enrollment), as rate per second.

Checks: every enrollment waits on the second step, with one sent message and two step runs (the
send, and the wait it is in). The last line is

    RESULT enrollments=<n> advance_s=<s> enrollments_per_s=<n> baseline_per_s=<n> sent=<n> loadavg=…

Goal: advance_s < 60 for 100,000. `--quick`: 10,000 enrollments, baseline 200.

    .venv/bin/python bench/journeys.py [--enrollments 100000] [--baseline 1000] [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import time

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django(SMS_PROVIDER="console")

from _report import result  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from journeys.executor import BATCH_SIZE  # noqa: E402

SCHEMA = "bench_journeys"
HOST = "bench-journeys.localhost"
STEPS = [
    {
        "key": "hello",
        "kind": "send",
        "channel": "sms",
        "body_text": "20% off today, just for you",
        "next": "pause",
    },
    {"key": "pause", "kind": "wait", "duration_seconds": 2 * 86400, "next": "done"},
    {"key": "done", "kind": "exit"},
]


def fill(customers: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE journeys_steprun, journeys_enrollment, journeys_journeystep, journeys_journey,"
            " notifications_message, customers_customer CASCADE"
        )
        cursor.execute(
            """
            INSERT INTO customers_customer (customer_id, email, phone, locale, timezone, country, attributes,
                                            created_at, bucket)
            SELECT 'cust-' || g, '', '+49151' || lpad(g::text, 8, '0'), 'de-DE', 'Europe/Berlin', 'DE',
                   '{}'::jsonb, now(), g %% 1024
            FROM generate_series(1, %s) AS g
            """,
            [customers],
        )


def journey(name: str) -> int:
    from journeys.services import journey_activate, journey_create

    created = journey_create(
        data={"name": name, "entry": {"event": f"{name}-signup"}, "steps": STEPS}, actor="system"
    )
    return journey_activate(journey_id=created.pk, actor="system").pk


def enroll_due(journey_id: int, first: int, last: int) -> None:
    """Enrollments of customers first..last on the first step, all due now (server-side)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO journeys_enrollment (journey_id, version, customer_id, state, step_key, next_run_at,
                                             step_entered_at, variant, exit_reason, entered_at)
            SELECT %(j)s, 1, 'cust-' || g, 'active', 'hello', now(), now(), '', '', now()
            FROM generate_series(%(first)s, %(last)s) AS g
            """,
            {"j": journey_id, "first": first, "last": last},
        )
        cursor.execute("ANALYZE")


def advance(batch_size: int) -> tuple[int, float]:
    from journeys.executor import enrollments_advance_due

    started = time.perf_counter()
    done = enrollments_advance_due(now=timezone.now(), batch_size=batch_size)
    return done, time.perf_counter() - started


def check(journey_id: int) -> tuple[int, int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE state = 'waiting' AND step_key = 'pause') FROM journeys_enrollment"
            " WHERE journey_id = %s",
            [journey_id],
        )
        (waiting,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM notifications_message WHERE journey_step = %s AND status = 'sent'",
            [f"{journey_id}:hello"],
        )
        (sent,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM journeys_steprun r JOIN journeys_enrollment e ON e.id = r.enrollment_id"
            " WHERE e.journey_id = %s",
            [journey_id],
        )
        (runs,) = cursor.fetchone()
    return waiting, sent, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="10,000 enrollments, a baseline of 200")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    if options.quick:
        options.enrollments, options.baseline = 10_000, 200
    logging.disable(logging.WARNING)  # the console provider logs each message at INFO
    n, b = options.enrollments, options.baseline
    _brand.brand_ready(SCHEMA, "Bench journeys", HOST)
    try:
        with schema_context(SCHEMA):
            started = time.perf_counter()
            fill(n + b)
            baseline_journey, main_journey = journey("baseline"), journey("bench")
            enroll_due(baseline_journey, n + 1, n + b)
            base_done, base_s = advance(batch_size=1)
            base_rate = base_done / base_s
            print(
                f"baseline (one at a time): {base_done:,} in {base_s:.1f} s = {base_rate:,.0f}/s", flush=True
            )
            enroll_due(main_journey, 1, n)
            print(
                f"filled {n + b:,} customers and enrollments in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            done, seconds = advance(batch_size=BATCH_SIZE)
            waiting, sent, runs = check(main_journey)
            print(
                f"advanced {done:,} enrollments in {seconds:.1f} s = {done / seconds:,.0f}/s; "
                f"{waiting:,} waiting on the second step, {sent:,} sent, {runs:,} step runs",
                flush=True,
            )
            assert done == n and waiting == n and sent == n and runs == 2 * n, (done, waiting, sent, runs)
    finally:
        if not options.keep:
            _brand.drop_brand(SCHEMA)
    result(
        enrollments=n,
        advance_s=round(seconds, 1),
        enrollments_per_s=round(done / seconds),
        baseline_per_s=round(base_rate),
        sent=sent,
    )


if __name__ == "__main__":
    main()
