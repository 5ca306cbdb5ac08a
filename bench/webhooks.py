"""Benchmark: outgoing webhooks (SPEC §15) — emit cost on the hot path, fan-out and delivery throughput.

Creates a throw-away brand (`bench_webhooks`), starts a local HTTP receiver (`bench/partner_server.py`:
keep-alive, 200 to every POST), and measures, in one run:

1. **emit cost** of `outbox.events.emit_many` for a batch of 1,000 `purchase.evaluated` events:
   with no endpoint subscribed (what every evaluation batch pays when nobody listens: the cached
   check) and with one subscribed endpoint (one INSERT of 1,000 rows), µs per event, best of 5,
   each in a transaction rolled back;
2. **delivery throughput**: `--events` events fanned out to `--endpoints` endpoints and sent
   (claim → concurrent signed POSTs → record, `webhooks.services.webhook_fan_out_and_send`),
   deliveries per second;
3. the **baseline** in the same run: the same number of deliveries sent one at a time, each in its
   own claim/send/record (what a one-task-per-delivery design does).

The last line is
    RESULT deliveries=<n> deliveries_per_s=<fast> baseline_per_s=<one at a time> ratio=<fast/baseline>
           emit_unsubscribed_us=<per event> emit_subscribed_us=<per event> loadavg=…
Drops the schema at the end unless --keep.

    .venv/bin/python bench/webhooks.py [--events 2000] [--endpoints 2] [--keep]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django(WEBHOOK_URL_ALLOW_PRIVATE="true")

from _report import result  # noqa: E402
from django.db import transaction  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_webhooks"
HOST = "bench-webhooks.localhost"
EMIT_BATCH = 1000


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _emit_cost_us(*, batch: int, runs: int = 5) -> float:
    from outbox import events

    items = [{"external_id": f"o-{n}", "customer_id": f"c-{n}", "evaluations": []} for n in range(batch)]
    best = float("inf")
    for _ in range(runs):
        with transaction.atomic():
            started = time.perf_counter()
            events.emit_many(events.EventType.PURCHASE_EVALUATED, items)
            best = min(best, time.perf_counter() - started)
            transaction.set_rollback(True)
    return best / batch * 1e6


def _emit(count: int) -> None:
    from outbox import events

    with transaction.atomic():
        events.emit_many(events.EventType.AWARD_CREATED, [{"award_id": f"aw-{n}"} for n in range(count)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()

    _brand.drop_brand(SCHEMA)
    _brand.brand_ready(SCHEMA, "Bench webhooks", HOST)
    port = _brand.free_port()
    # The receiver the partner benchmarks use: keep-alive HTTP/1.1, 200 to every POST, cheap.
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.partner_server", "--port", str(port)], cwd=_brand.ROOT
    )
    wait_for_port(port)
    url = f"http://127.0.0.1:{port}/hooks"
    try:
        with schema_context(SCHEMA):
            from core.actors import SYSTEM_ACTOR
            from outbox import events
            from outbox.models import DomainEvent
            from webhooks.models import WebhookDelivery
            from webhooks.services import (
                webhook_deliveries_send,
                webhook_endpoint_create,
                webhook_events_fan_out,
                webhook_fan_out_and_send,
            )

            events.subscriptions_changed()
            unsubscribed_us = _emit_cost_us(batch=EMIT_BATCH)
            webhook_endpoint_create(actor=SYSTEM_ACTOR, url=url, event_types=["purchase.evaluated"])
            subscribed_us = _emit_cost_us(batch=EMIT_BATCH)
            for _ in range(options.endpoints):
                webhook_endpoint_create(actor=SYSTEM_ACTOR, url=url, event_types=["award.created"])

            # Fast path: fan-out + concurrent signed sends, in chunks.
            _emit(options.events)
            started = time.perf_counter()
            fast = webhook_fan_out_and_send()
            fast_seconds = time.perf_counter() - started
            deliveries = fast.sent
            assert deliveries == options.events * options.endpoints, (fast, deliveries)

            # Baseline: the same number of deliveries, one claim/send/record each.
            _emit(options.events)
            ids = []
            while True:
                created = webhook_events_fan_out()
                if not created:
                    break
                ids.extend(created)
            started = time.perf_counter()
            baseline_sent = sum(
                webhook_deliveries_send(delivery_ids=[delivery_id]).sent for delivery_id in ids
            )
            baseline_seconds = time.perf_counter() - started
            assert baseline_sent == len(ids) == deliveries, (baseline_sent, len(ids))
            assert WebhookDelivery.objects.exclude(status="sent").count() == 0
            assert DomainEvent.objects.filter(fanned_out_at__isnull=True).count() == 0
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        if not options.keep:
            _brand.drop_brand(SCHEMA)
    fast_rate = deliveries / fast_seconds
    baseline_rate = deliveries / baseline_seconds
    print(
        f"{deliveries} deliveries to {options.endpoints} endpoints: {fast_rate:.0f}/s fanned out and sent, "
        f"{baseline_rate:.0f}/s one at a time; emit {unsubscribed_us:.2f} µs/event unsubscribed, "
        f"{subscribed_us:.1f} µs/event subscribed",
        flush=True,
    )
    result(
        deliveries=deliveries,
        deliveries_per_s=round(fast_rate),
        baseline_per_s=round(baseline_rate),
        ratio=round(fast_rate / baseline_rate, 1),
        emit_unsubscribed_us=round(unsubscribed_us, 3),
        emit_subscribed_us=round(subscribed_us, 1),
    )


if __name__ == "__main__":
    main()
