"""Benchmark: segments on 1,000,000 customers with attributes and stats and 5,000,000 events.

Creates a throw-away brand (`bench_segments`), fills it server-side (INSERT … SELECT
generate_series: no row crosses into Python; RFM quintiles by the real NTILE job), then times two
segments — "viewed but didn't buy in 7 days" and "R, F, M ≥ 4" — three ways each:

* the preview (`customers.selectors.segment_preview`: a bucket range of ~20,000 customers and a
  sample), best of 3 after a warm-up;
* the exact count (`customers.services.segment_compute`, the job behind POST /segments/{id}/compute/);
* the estimate's error against the exact count, and whether the 95 % interval holds it.

The last line is

    RESULT customers=<n> preview_ms=<slowest preview> count_ms=<slowest count> estimate_error_pct=<worst> within_ci=<yes|no> loadavg=…

Goals (SPEC §11 / issue 16): preview < 1,000 ms, count < 5,000 ms, error within the interval.
Drops the schema at the end unless --keep.

    .venv/bin/python bench/segments.py [--customers 1000000] [--events 5000000] [--keep]
"""

from __future__ import annotations

import argparse
import time

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django()

from _report import result  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_segments"
HOST = "bench-segments.localhost"

SEGMENTS = {
    "viewed_not_bought_7d": {
        "all": [{"event": "view", "within_days": 7}, {"not": {"event": "conversion", "within_days": 7}}]
    },
    "rfm_4_plus": {
        "all": [
            {"attr": "stats.r", "op": "gte", "value": 4},
            {"attr": "stats.f", "op": "gte", "value": 4},
            {"attr": "stats.m", "op": "gte", "value": 4},
        ]
    },
}


def fill(customers: int, events: int) -> None:
    from customers.services import customers_rfm_refresh

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE customers_event, customers_segmentmember, customers_segmentsize, customers_segment,"
            " customers_customerstats, customers_customer CASCADE"
        )
        cursor.execute(
            """
            INSERT INTO customers_customer (customer_id, email, phone, locale, timezone, country, lat, lon,
                                            attributes, created_at, last_seen_at)
            SELECT 'cust-' || g, '', '', (ARRAY['es-ES', 'pt-PT', 'fr-FR', 'en-GB'])[1 + g %% 4], 'Europe/Madrid',
                   (ARRAY['ES', 'PT', 'FR', 'GB', 'DE'])[1 + g %% 5], 36 + random() * 7, -9 + random() * 12,
                   jsonb_build_object('tier', (ARRAY['gold', 'silver', 'bronze'])[1 + g %% 3],
                                      'age', 18 + g %% 60, 'app_user', g %% 2 = 0),
                   now() - interval '400 days' * random(), now() - interval '30 days' * random()
            FROM generate_series(1, %s) AS g
            """,
            [customers],
        )
        cursor.execute(
            """
            INSERT INTO customers_customerstats (customer_id, first_purchase_at, last_purchase_at, orders_total,
                                                 spend_total, orders_90d, spend_90d)
            SELECT c.id, CASE WHEN o.n > 0 THEN now() - interval '300 days' END,
                   CASE WHEN o.n > 0 THEN now() - interval '120 days' * random() END,
                   o.n * 3, round((o.n * 3 * (10 + random() * 90))::numeric, 2),
                   o.n, round((o.n * (10 + random() * 90))::numeric, 2)
            FROM customers_customer c, LATERAL (SELECT floor(random() * random() * 12)::int + (c.id * 0) AS n) o
            """
        )
        cursor.execute("SELECT min(id), max(id) FROM customers_customer")
        low, high = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO customers_event (event_id, customer_id, name, properties, occurred_at, received_at)
            SELECT 'ev-' || g, %s + floor(random() * %s)::bigint,
                   CASE WHEN r < 0.7 THEN 'view' WHEN r < 0.8 THEN 'conversion' ELSE 'click' END,
                   jsonb_build_object('sku', 'SKU-' || (g %% 500)), now() - interval '30 days' * random(), now()
            FROM (SELECT g, random() AS r FROM generate_series(1, %s) AS g) AS s
            """,
            [low, high - low + 1, events],
        )
    customers_rfm_refresh()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer; ANALYZE customers_customerstats; ANALYZE customers_event")


def measure(name: str, definition: dict) -> dict:
    from customers.models import Segment
    from customers.selectors import segment_preview
    from customers.services import segment_compute

    segment_preview(definition=definition)  # warm-up
    previews = []
    for _ in range(3):
        started = time.perf_counter()
        preview = segment_preview(definition=definition)
        previews.append((time.perf_counter() - started) * 1000)
    segment = Segment.objects.create(name=f"bench {name}", definition=definition)
    started = time.perf_counter()
    exact = segment_compute(segment_id=segment.pk).size
    count_ms = (time.perf_counter() - started) * 1000
    error = (
        abs(preview.estimate - exact) / exact * 100 if exact else (0.0 if preview.estimate == 0 else 100.0)
    )
    within = preview.ci95[0] <= exact <= preview.ci95[1]
    print(
        f"{name:>22}: preview {min(previews):7.1f} ms (estimate {preview.estimate:,}, 95 % {preview.ci95[0]:,}–"
        f"{preview.ci95[1]:,}, from {preview.sampled:,})  count {count_ms:7.1f} ms (exact {exact:,})  "
        f"error {error:.2f} %  {'within' if within else 'OUTSIDE'} the interval",
        flush=True,
    )
    return {"preview_ms": min(previews), "count_ms": count_ms, "error": error, "within": within}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench_segments schema")
    options = parser.parse_args()
    _brand.brand_ready(SCHEMA, "Bench segments", HOST)
    try:
        with schema_context(SCHEMA):
            started = time.perf_counter()
            fill(options.customers, options.events)
            print(
                f"filled {options.customers:,} customers and {options.events:,} events in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
            figures = [measure(name, definition) for name, definition in SEGMENTS.items()]
    finally:
        if not options.keep:
            _brand.drop_brand(SCHEMA)
    result(
        customers=options.customers,
        preview_ms=round(max(f["preview_ms"] for f in figures)),
        count_ms=round(max(f["count_ms"] for f in figures)),
        estimate_error_pct=round(max(f["error"] for f in figures), 2),
        within_ci="yes" if all(f["within"] for f in figures) else "no",
    )


if __name__ == "__main__":
    main()
