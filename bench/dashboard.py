"""Dashboards with millions of rows: the rollup tick, a full backfill, and the admin pages.

Creates a throw-away brand (`bench_dashboard`), fills it server-side with `--rows` evaluations spread over
the last 30 days in time order (20 % eligible, each eligible one dispatched with one attempt), then times:

* the minute tick's refresh (`rollup_refresh()`: current hour + MONITORING_ROLLUP_HOURS);
* a full backfill of the 30 days (`refresh_rollups --hours 744`);
* the campaign dashboard page and the overview page (Django test client, staff user, median of 5).

Then drops the schema. Migrates the public schema first when needed (runs on an empty database):

    .venv/bin/python bench/dashboard.py [--rows 1000000]

Last line: `RESULT rows=… tick_refresh_ms=… backfill_s=… dashboard_page_ms=… overview_page_ms=… loadavg=…`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django()

from _app import TABLES, partner_create  # noqa: E402
from _report import result  # noqa: E402
from _rows import defaults_for  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from campaigns.models import Campaign  # noqa: E402
from monitoring.rollups import rollup_refresh  # noqa: E402

SCHEMA = "bench_dashboard"
HOST = "bench-dashboard.localhost"


def fill(rows: int) -> int:
    partner_id = partner_create().pk
    with connection.cursor() as cursor:
        columns, values, defaults = defaults_for(
            Campaign,
            {
                "name": "'Bench Christmas'",
                "kind": "'christmas'",
                "status": "'active'",
                "starts_at": "now() - interval '31 days'",
                "ends_at": "now() + interval '5 days'",
                "purchase_channels": "ARRAY['in_store','ecommerce']",
                "currency": "'EUR'",
                "min_purchase_value": "50",
                "partner_id": "%(partner)s",
            },
        )
        cursor.execute(
            f"INSERT INTO campaigns_campaign ({columns}) SELECT {values} RETURNING id",
            {"partner": partner_id, **defaults},
        )
        campaign_id = cursor.fetchone()[0]
        # Purchases in time order over the last 30 days (the evaluation hot path inserts in that order).
        cursor.execute(
            """
            INSERT INTO purchases_purchase (external_id, customer_id, channel, purchased_at, currency, store_id,
                items, total, body_hash, received_at, evaluated_at, evaluation_attempts)
            SELECT 'p-' || g, 'c-' || (g %% 50000), 'in_store', t, 'EUR', '',
                '[{"sku": "SKU-1", "quantity": 1, "unit_price": "60.0000"}]'::jsonb, 60, md5(g::text), t, t, 1
            FROM generate_series(1, %(n)s) AS g,
                 LATERAL (SELECT now() - interval '30 days' + (g::float / %(n)s) * interval '30 days' AS t) AS at
            """,
            {"n": rows},
        )
        cursor.execute(
            """
            INSERT INTO purchases_evaluation (purchase_id, campaign_id, campaign_version, eligible, eligible_value,
                reason, evaluated_at)
            SELECT p.id, %s, 1, p.id %% 5 = 0, CASE WHEN p.id %% 5 = 0 THEN 60 ELSE 0 END,
                CASE WHEN p.id %% 5 = 0 THEN NULL ELSE 'below_minimum' END, p.received_at + interval '1 s'
            FROM purchases_purchase p ORDER BY p.id
            """,
            [campaign_id],
        )
        cursor.execute(
            f"""
            INSERT INTO {TABLES.dispatch} (id, purchase_id, campaign_id, partner_id, status, attempts,
                created_at, updated_at, sent_at, last_error)
            SELECT gen_random_uuid(), p.id, %s, %s, 'sent', 1, p.received_at + interval '2 s',
                p.received_at + interval '3 s', p.received_at + interval '3 s', ''
            FROM purchases_purchase p WHERE p.id %% 5 = 0 ORDER BY p.id
            """,
            [campaign_id, partner_id],
        )
        cursor.execute(
            f"""
            INSERT INTO {TABLES.attempt} (dispatch_id, number, attempted_at, status_code, latency_ms,
                outcome, error)
            SELECT d.id, 1, d.created_at, 200, 50, 'sent', '' FROM {TABLES.dispatch} d ORDER BY d.created_at
            """
        )
    # What autovacuum does to a live table (statistics; BRIN ranges summarised). Outside a transaction.
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE purchases_evaluation, {TABLES.attempt}, {TABLES.dispatch}")
    return campaign_id


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain", action="store_true", help="print the tick's query plan")
    options = parser.parse_args()
    _brand.drop_brand(SCHEMA)  # what an interrupted run left
    _brand.brand_ready(SCHEMA, "Bench dashboard", HOST)
    try:
        with schema_context(SCHEMA):
            started = time.monotonic()
            campaign_id = fill(options.rows)
            print(f"setup: {options.rows} evaluations over 30 days in {time.monotonic() - started:.1f} s")
            backfill = timed(lambda: rollup_refresh(since=timezone.now() - timedelta(hours=744)))
            ticks = [timed(rollup_refresh) for _ in range(5)]
            if options.explain:
                from monitoring.rollups import _REFRESH_SQL, hour_floor

                with connection.cursor() as cursor:
                    since = hour_floor(timezone.now() - timedelta(hours=2))
                    cursor.execute("EXPLAIN ANALYZE " + _REFRESH_SQL, {"since": since, "now": timezone.now()})
                    print("\n".join(row[0] for row in cursor.fetchall()))
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.create_user(
                "bench", password="x", is_staff=True, is_superuser=True
            )
        client = Client(HTTP_HOST=HOST)
        with schema_context(SCHEMA):
            client.force_login(user)
        url = f"/admin/monitoring/campaignhourlyrollup/campaign/{campaign_id}/"
        pages = {}
        for name, path in (
            ("dashboard", url),
            ("dashboard_7d", url + "?hours=168"),
            ("overview", url.split("campaign/")[0]),
        ):
            assert client.get(path).status_code == 200
            pages[name] = statistics.median(timed(lambda p=path: client.get(p)) for _ in range(5))
        connection.set_schema_to_public()
    finally:
        _brand.drop_brand(SCHEMA)
    print(f"rollup backfill of 30 days: {backfill:.2f} s")
    print(f"minute tick refresh (median of 5): {statistics.median(ticks) * 1000:.1f} ms")
    for name, seconds in pages.items():
        print(f"page {name}: {seconds * 1000:.1f} ms")
    result(
        rows=options.rows,
        tick_refresh_ms=f"{statistics.median(ticks) * 1000:.1f}",
        backfill_s=f"{backfill:.2f}",
        dashboard_page_ms=f"{pages['dashboard'] * 1000:.1f}",
        overview_page_ms=f"{pages['overview'] * 1000:.1f}",
    )


if __name__ == "__main__":
    main()
