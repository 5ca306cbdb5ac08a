"""Benchmark: archive one campaign of 1,000,000 evaluations (+ 20 % dispatches, one attempt each) end to end.

Creates a throw-away brand schema (`bench_archive`), fills it server-side
(INSERT … SELECT generate_series: no row crosses into Python), then times
`archive.services.archive_campaign` — export to Parquet, verify, purge, mark
archived — into a temporary folder. Prints each phase, the wall time and the
process's peak RSS; the last line is

    RESULT rows=<archived rows> seconds=<wall time of the archive> peak_rss_mb=<peak RSS> loadavg=…

Then drops the schema and the folder. Migrates the public schema first when needed, so it runs on
an empty database (DATABASE_URL's, or the embedded one when unset):

    .venv/bin/python bench/archive.py [--evaluations N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django()

from _app import TABLES, partner_create  # noqa: E402
from _report import result  # noqa: E402
from _rows import defaults_for  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from archive.services import archive_campaign  # noqa: E402
from campaigns.models import Campaign  # noqa: E402

SCHEMA = "bench_archive"


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def fill(evaluations: int) -> int:
    """One completed campaign with `evaluations` evaluations, 20 % dispatches, one attempt each."""
    dispatches = evaluations // 5
    partner_id = partner_create().pk
    with connection.cursor() as cursor:
        columns, values, defaults = defaults_for(
            Campaign,
            {
                "name": "'Bench Christmas'",
                "kind": "'christmas'",
                "status": "'completed'",
                "starts_at": "now() - interval '90 days'",
                "ends_at": "now() - interval '40 days'",
                "purchase_channels": "ARRAY['in_store','ecommerce']",
                "currency": "'EUR'",
                "min_purchase_value": "50",
                "partner_id": "%(partner)s",
                "version": "3",
                "created_at": "now() - interval '100 days'",
                "completed_at": "now() - interval '40 days'",
            },
        )
        cursor.execute(
            f"INSERT INTO campaigns_campaign ({columns}) SELECT {values} RETURNING id",
            {"partner": partner_id, **defaults},
        )
        campaign_id = cursor.fetchone()[0]
        cursor.execute(
            """
            INSERT INTO campaigns_campaigntransition (campaign_id, from_status, to_status, actor, note, created_at)
            VALUES (%(c)s, 'draft', 'active', 'user:bench', '', now() - interval '90 days'),
                   (%(c)s, 'active', 'completed', 'system', '', now() - interval '40 days')
            """,
            {"c": campaign_id},
        )
        cursor.execute(
            """
            INSERT INTO purchases_purchase (external_id, customer_id, channel, purchased_at, currency, store_id,
                items, total, body_hash, received_at, evaluated_at, evaluation_attempts)
            SELECT 'p-' || g, 'c-' || (g %% 50000), CASE WHEN g %% 2 = 0 THEN 'in_store' ELSE 'ecommerce' END,
                now() - interval '45 days' + g * interval '1 ms', 'EUR', 's-' || (g %% 300),
                '[{"sku": "SKU-1", "category": "toys", "quantity": 2, "unit_price": "30.5000"}]'::jsonb,
                (g %% 100000) / 100.0 + 0.0001, md5(g::text), now() - interval '45 days', now() - interval '45 days', 1
            FROM generate_series(1, %s) AS g
            """,
            [evaluations],
        )
        cursor.execute(
            """
            INSERT INTO purchases_evaluation (purchase_id, campaign_id, campaign_version, eligible, eligible_value,
                reason, evaluated_at)
            SELECT p.id, %s, 3, p.id %% 5 = 0, CASE WHEN p.id %% 5 = 0 THEN p.total * 1.5 ELSE 0 END,
                CASE WHEN p.id %% 5 = 0 THEN NULL ELSE 'below_minimum' END, p.received_at + interval '2 s'
            FROM purchases_purchase p
            """,
            [campaign_id],
        )
        cursor.execute(
            f"""
            INSERT INTO {TABLES.dispatch} (id, purchase_id, campaign_id, partner_id, status, attempts,
                next_attempt_at, last_status_code, last_error, created_at, updated_at, sent_at)
            SELECT gen_random_uuid(), p.id, %s, %s, 'sent', 1, NULL, 200, '', p.received_at + interval '3 s',
                p.received_at + interval '4 s', p.received_at + interval '4 s'
            FROM purchases_purchase p WHERE p.id %% 5 = 0
            """,
            [campaign_id, partner_id],
        )
        cursor.execute(
            f"""
            INSERT INTO {TABLES.attempt} (dispatch_id, number, attempted_at, status_code, latency_ms,
                outcome, error)
            SELECT d.id, 1, d.created_at, 200, 40 + (random() * 100)::int, 'sent', '' FROM {TABLES.dispatch} d
            """
        )
        cursor.execute("ANALYZE")
    assert dispatches
    return campaign_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    options = parser.parse_args()

    _brand.drop_brand(SCHEMA)  # what an interrupted run left
    started = time.monotonic()
    _brand.brand_ready(SCHEMA, "Bench archive", "bench-archive.localhost")
    folder = tempfile.mkdtemp(prefix="bench-archive-")
    settings.ARCHIVE_URL = folder
    try:
        with schema_context(SCHEMA):
            campaign_id = fill(options.evaluations)
            print(f"setup: schema + {options.evaluations} evaluations in {time.monotonic() - started:.1f} s")
            phases: dict[str, list[float]] = {}

            def progress(phase: str, rows: int) -> None:
                now = time.monotonic()
                phases.setdefault(phase, [now, now, 0, 0.0])
                phases[phase][1] = now
                phases[phase][2] += rows
                phases[phase][3] = max(phases[phase][3], current_rss_mb())

            rss_before = peak_rss_mb()
            begin = time.monotonic()
            run = archive_campaign(campaign_id=campaign_id, progress=progress)
            seconds = time.monotonic() - begin
            phase_start = begin
            for phase, (_, last, rows, rss) in phases.items():
                print(f"  {phase}: {rows} rows, ~{last - phase_start:.1f} s, RSS up to {rss:.0f} MB")
                phase_start = last
            size_mb = run.bytes_written / 1e6
            print(
                f"archived {run.row_counts} → {size_mb:.1f} MB of Parquet (zstd), {run.rows_purged} rows purged"
            )
            print(
                f"wall time {seconds:.1f} s; peak RSS {peak_rss_mb():.0f} MB (before the run {rss_before:.0f} MB)"
            )
            result(rows=run.rows_exported, seconds=f"{seconds:.1f}", peak_rss_mb=f"{peak_rss_mb():.0f}")
    finally:
        _brand.drop_brand(SCHEMA)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
