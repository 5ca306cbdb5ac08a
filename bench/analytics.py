"""Benchmark: campaign analytics and experiments (SPEC §16, issue 20).

A throw-away brand (`bench_analytics`) is filled server-side (INSERT … SELECT generate_series: no row
crosses into Python): 1,000 campaigns with one year of hourly figures each (8.76 M rows), their daily
figures summed from them as the hourly job does, and one experiment with 10,000,000 exposures and the
variant totals its refresh keeps. Then, through the production web tier (gunicorn, 2 sync workers,
DEBUG off, a crm and an ingest key):

* `metrics_p95_ms`: GET /campaigns/{id}/metrics/ for a year by day (365 rows), random campaigns;
* `report_ms`: GET /reports/performance/ for a year of all campaigns (median of 3, JSON);
* `track_p95_ms`: POST /events/ one event at a time (a `view` carrying campaign_id);
* `track_per_s`: events stored per second by 4 concurrent clients posting /events/batch/ of 500
  (how a mobile backend sends 100,000 a minute) for `--track-seconds`;
* `results_ms`: GET /experiments/{id}/results/ over the 10 M exposures (median of 5); `recount_ms` is
  the same counts recounted from the 10 M rows, to show what the totals save (and they are checked equal);
* `assign_us`: the pure hash assignment per customer (timeit), with `baseline_us` a bare BLAKE2b of the
  same bytes in the same run.

Goals: metrics < 150 ms, report < 1,000 ms, track p95 < 50 ms and ≥ 1,667 events/s, results < 1,000 ms,
assign < 5 µs. The last line is `RESULT metrics_p95_ms=… report_ms=… track_p95_ms=… track_per_s=…
results_ms=… assign_us=… … loadavg=…`. Drops the schema at the end unless --keep.

    .venv/bin/python bench/analytics.py [--campaigns 1000] [--exposures 10000000] [--keep]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import timeit
import uuid
from datetime import timedelta

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django()

from _report import result  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_analytics"
HOST = "bench-analytics.localhost"
HOURS = 8760


def fill(campaigns: int, exposures: int) -> int:
    """Campaigns, a year of hourly and daily figures, an experiment with its exposures; the experiment id."""
    from _rows import defaults_for

    from campaigns.models import Campaign
    from experiments.services import VariantSpec, experiment_create

    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        columns, values, defaults = defaults_for(
            Campaign,
            {
                "name": "'Bench campaign ' || g",
                "kind": "'custom'",
                "status": "'active'",
                "starts_at": "%(start)s",
                "ends_at": "%(end)s",
                "purchase_channels": "ARRAY['in_store', 'ecommerce']",
                "currency": "'EUR'",
                "min_purchase_value": "0",
                "reward": """'{"type": "voucher", "value": "5.00", "description": "5 off"}'""",
                "attribution_window_hours": "72",
            },
        )
        cursor.execute(
            f"INSERT INTO campaigns_campaign ({columns}) SELECT {values} FROM generate_series(1, %(n)s) AS g",
            {
                "start": now - timedelta(hours=HOURS),
                "end": now + timedelta(days=30),
                "n": campaigns,
                **defaults,
            },
        )
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO analytics_campaignhourlyfigures
                (campaign_id, variant, hour, impressions, clicks, conversions, revenue, cost, computed_at)
            SELECT c.id, '', %(first)s + h * interval '1 hour', i, i / 20, i / 200, (i / 200) * 42.5, (i / 200) * 5,
                   now()
            FROM campaigns_campaign c CROSS JOIN generate_series(0, %(hours)s - 1) AS h,
                 LATERAL (SELECT (100 + (c.id * 31 + h * 17) %% 900)::int AS i) AS v
            """,
            {"first": now - timedelta(hours=HOURS), "hours": HOURS},
        )
        hourly_s = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO analytics_campaigndailyfigures
                (campaign_id, variant, day, impressions, clicks, conversions, revenue, cost)
            SELECT campaign_id, variant, (hour AT TIME ZONE 'UTC')::date, SUM(impressions), SUM(clicks),
                   SUM(conversions), SUM(revenue), SUM(cost)
            FROM analytics_campaignhourlyfigures GROUP BY 1, 2, 3
            """
        )
        daily_s = time.perf_counter() - started
        cursor.execute("SELECT id FROM campaigns_campaign ORDER BY id LIMIT 1")
        (first_campaign,) = cursor.fetchone()
    from campaigns.models import Campaign

    experiment = experiment_create(
        campaign=Campaign.objects.get(pk=first_campaign),
        actor="system",
        variants=[VariantSpec("A", 1), VariantSpec("B", 1)],
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO experiments_exposure (experiment_id, bucket_version, customer_id, variant, exposed_at,
                                              clicked_at, converted_at)
            SELECT %(x)s, 1, 'cust-' || g, CASE WHEN g %% 2 = 0 THEN 'A' ELSE 'B' END, %(at)s,
                   CASE WHEN random() < 0.2 THEN %(at)s END,
                   CASE WHEN random() < (CASE WHEN g %% 2 = 0 THEN 0.100 ELSE 0.102 END) THEN %(at)s END
            FROM generate_series(1, %(n)s) AS g
            """,
            {"x": experiment.pk, "at": now - timedelta(days=3), "n": exposures},
        )
        cursor.execute(
            """
            INSERT INTO experiments_varianttotals (experiment_id, bucket_version, variant, exposures, clicks,
                                                   conversions)
            SELECT experiment_id, bucket_version, variant, COUNT(*), COUNT(clicked_at), COUNT(converted_at)
            FROM experiments_exposure WHERE experiment_id = %s GROUP BY 1, 2, 3
            """,
            [experiment.pk],
        )
        cursor.execute(
            "ANALYZE analytics_campaignhourlyfigures; ANALYZE analytics_campaigndailyfigures;"
            " ANALYZE experiments_exposure; ANALYZE campaigns_campaign"
        )
    print(
        f"filled {campaigns:,} campaigns × {HOURS:,} hours ({campaigns * HOURS:,} hourly rows) in {hourly_s:.1f} s, "
        f"daily figures in {daily_s:.1f} s, {exposures:,} exposures in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return experiment.pk


def recount_ms(experiment_id: int) -> tuple[float, bool]:
    from experiments.models import VariantTotals

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT variant, COUNT(*), COUNT(converted_at) FROM experiments_exposure WHERE experiment_id = %s"
            " GROUP BY 1 ORDER BY 1",
            [experiment_id],
        )
        counted = cursor.fetchall()
    elapsed = (time.perf_counter() - started) * 1000
    totals = [
        (t.variant, t.exposures, t.conversions)
        for t in VariantTotals.objects.filter(experiment_id=experiment_id).order_by("variant")
    ]
    return elapsed, counted == totals


def assign_figures() -> tuple[float, float]:
    from hashlib import blake2b

    from experiments.assignment import assign, plan_for

    plan = plan_for(seed="0123456789abcdef", bucket_version=1, coverage=1.0, variants=[("A", 1), ("B", 1)])
    number = 200_000
    assign_us = min(timeit.repeat(lambda: assign(plan, "customer-1234567"), number=number, repeat=3)) / number
    data = plan.prefix + b"customer-1234567"
    baseline_us = (
        min(timeit.repeat(lambda: blake2b(data, digest_size=8).digest(), number=number, repeat=3)) / number
    )
    return assign_us * 1e6, baseline_us * 1e6


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def http_figures(
    *, experiment_id: int, crm_key: str, ingest_key: str, campaign_ids: list[int], options
) -> dict:
    import requests

    port = _brand.free_port()
    server = _brand.start_gunicorn(port, workers=2)
    base = f"http://127.0.0.1:{port}/api/v1"
    crm = {"Host": HOST, "Authorization": f"Api-Key {crm_key}"}
    ingest = {"Host": HOST, "Authorization": f"Api-Key {ingest_key}"}
    today = timezone.now().date()
    year = f"from={today - timedelta(days=364)}&to={today}"
    try:
        session = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                if (
                    session.get(f"{base}/reports/cohorts/?periods=1", headers=crm, timeout=30).status_code
                    == 200
                ):
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not answer within 60 s")
            time.sleep(0.3)
        rng = random.Random(7)
        for _ in range(20):
            session.get(
                f"{base}/campaigns/{rng.choice(campaign_ids)}/metrics/?{year}&granularity=day", headers=crm
            )
        metrics = []
        for _ in range(options.requests):
            url = f"{base}/campaigns/{rng.choice(campaign_ids)}/metrics/?{year}&granularity=day"
            started = time.perf_counter()
            response = session.get(url, headers=crm, timeout=30)
            metrics.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and len(response.json()["rows"]) == 365, response.text[:300]
        reports = []
        for _ in range(4):
            started = time.perf_counter()
            response = session.get(f"{base}/reports/performance/?{year}", headers=crm, timeout=60)
            reports.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and len(response.json()["rows"]) == len(campaign_ids)
        results = []
        for _ in range(6):
            started = time.perf_counter()
            response = session.get(f"{base}/experiments/{experiment_id}/results/", headers=crm, timeout=30)
            results.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        exposed = sum(v["exposures"] for v in response.json()["variants"])
        print(f"results: {exposed:,} exposures, recommendation {response.json()['recommendation']!r}")
        track = []
        for index in range(options.requests):
            body = {"event_id": f"t-{uuid.uuid4().hex}", "customer_id": f"cust-{index}", "name": "view",
                    "properties": {"campaign_id": campaign_ids[0]}, "occurred_at": timezone.now().isoformat()}  # fmt: skip
            started = time.perf_counter()
            response = session.post(f"{base}/events/", json=body, headers=ingest, timeout=30)
            track.append((time.perf_counter() - started) * 1000)
            assert response.status_code in (200, 201, 202), response.text[:300]
        stored = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + options.track_seconds

        def client(number: int) -> None:
            own = requests.Session()
            while time.monotonic() < stop_at:
                events = [{"event_id": f"b-{uuid.uuid4().hex}", "customer_id": f"cust-{number}-{i % 2000}",
                           "name": "view", "properties": {"campaign_id": campaign_ids[i % len(campaign_ids)]},
                           "occurred_at": timezone.now().isoformat()} for i in range(500)]  # fmt: skip
                response = own.post(
                    f"{base}/events/batch/", json={"events": events}, headers=ingest, timeout=60
                )
                assert response.status_code == 202, response.text[:300]
                accepted = sum(r["status"] == "accepted" for r in response.json()["results"])
                with lock:
                    stored[0] += accepted

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        track_per_s = stored[0] / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=15)
    print(
        f"metrics (year by day, {options.requests} requests): median {statistics.median(metrics):.1f} ms, "
        f"p95 {p95(metrics):.1f} ms · report (all campaigns, year) {[round(r) for r in reports[1:]]} ms · "
        f"results {[round(r, 1) for r in results[1:]]} ms · track p95 {p95(track):.1f} ms (median "
        f"{statistics.median(track):.1f}) · batch {track_per_s:,.0f} events/s",
        flush=True,
    )
    return {
        "metrics_p95_ms": round(p95(metrics), 1),
        "report_ms": round(statistics.median(reports[1:])),
        "track_p95_ms": round(p95(track), 1),
        "track_per_s": round(track_per_s),
        "results_ms": round(statistics.median(results[1:]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--exposures", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--track-seconds", type=float, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the bench_analytics schema")
    options = parser.parse_args()
    from accounts.services import api_key_create

    _brand.brand_ready(SCHEMA, "Bench analytics", HOST)
    try:
        with schema_context(SCHEMA):
            experiment_id = fill(options.campaigns, options.exposures)
            recount, equal = recount_ms(experiment_id)
            print(f"recount of the exposures: {recount:.0f} ms, totals equal: {equal}", flush=True)
            _, crm_key = api_key_create(name="bench analytics crm", role="crm")
            _, ingest_key = api_key_create(name="bench analytics ingest", role="ingest")
            from campaigns.models import Campaign

            campaign_ids = list(Campaign.objects.values_list("id", flat=True))
        figures = http_figures(experiment_id=experiment_id, crm_key=crm_key, ingest_key=ingest_key,
                               campaign_ids=campaign_ids, options=options)  # fmt: skip
    finally:
        if not options.keep:
            _brand.drop_brand(SCHEMA)
    assign_us, baseline_us = assign_figures()
    print(f"assign {assign_us:.2f} µs per customer (bare BLAKE2b {baseline_us:.2f} µs)")
    result(
        **figures,
        assign_us=round(assign_us, 2),
        baseline_us=round(baseline_us, 2),
        recount_ms=round(recount),
        totals_equal="yes" if equal else "no",
        hourly_rows=options.campaigns * HOURS,
        exposures=options.exposures,
    )


if __name__ == "__main__":
    main()
