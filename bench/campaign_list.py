"""Benchmark: `GET /api/v1/campaigns/` with 1,000 campaigns in the brand (goal: median < 50 ms).

Through the production web tier (gunicorn, one sync worker, DEBUG off) on
127.0.0.1, with a crm API key, default page size (50). 30 warm-up requests,
then 300 measured ones, one at a time. Migrates and creates its brand when needed:

    .venv/bin/python bench/campaign_list.py [--campaigns 1000] [--requests 300]

Last line: `RESULT median_ms=… p95_ms=… loadavg=…`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta
from decimal import Decimal

from _brand import BENCH_HOST, ensure_bench_brand, free_port, setup_django, start_gunicorn
from _report import result


def seed(brand, campaigns: int) -> str:
    from _app import Partner, partner_create
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from accounts.services import api_key_create
    from campaigns.models import Campaign

    with tenant_context(brand):
        Campaign.objects.all().delete()
        partner = Partner.objects.filter(slug="bench-partner").first() or partner_create()
        now = timezone.now()
        kinds = [k for k, _ in Campaign.Kind.choices]
        statuses = ["draft", "active", "paused", "completed", "cancelled"]
        Campaign.objects.bulk_create(
            [
                Campaign(
                    name=f"Bench campaign {n:04d}",
                    kind=kinds[n % len(kinds)],
                    status=statuses[n % len(statuses)],
                    starts_at=now - timedelta(days=1),
                    ends_at=now + timedelta(days=30),
                    purchase_channels=["in_store", "ecommerce"],
                    currency="EUR",
                    min_purchase_value=Decimal("50.00"),
                    partner=partner,
                    reward={"type": "voucher", "value": "10.00", "description": "10 € off"},
                    notification={"title": "You won!", "body": "{{ award.value }} for {{ campaign.name }}"},
                )
                for n in range(campaigns)
            ],
            batch_size=1000,
        )
        from accounts.models import ApiKey

        ApiKey.objects.filter(name="bench campaign list").delete()
        _, key = api_key_create(name="bench campaign list", role="crm")
        assert Campaign.objects.count() == campaigns
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1_000, help="campaigns in the brand")
    parser.add_argument("--warmup", type=int, default=30, help="requests before measuring")
    parser.add_argument("--requests", type=int, default=300, help="measured requests")
    options = parser.parse_args()
    setup_django()
    import requests

    brand = ensure_bench_brand()
    key = seed(brand, options.campaigns)
    port = free_port()
    server = start_gunicorn(port)
    url = f"http://127.0.0.1:{port}/api/v1/campaigns/"
    headers = {"Host": BENCH_HOST, "Authorization": f"Api-Key {key}"}
    try:
        session = requests.Session()
        deadline = time.monotonic() + 30
        while True:
            try:
                if session.get(url, headers=headers, timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not answer within 30 s")
            time.sleep(0.2)
        for _ in range(options.warmup):
            session.get(url, headers=headers, timeout=5)
        timings_ms = []
        for _ in range(options.requests):
            started = time.perf_counter()
            response = session.get(url, headers=headers, timeout=5)
            timings_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"unexpected {response.status_code}: {response.text[:200]}")
        body = response.json()
        assert body["count"] == options.campaigns, body["count"]
    finally:
        server.terminate()
        server.wait(timeout=15)
    timings_ms.sort()
    median = statistics.median(timings_ms)
    p95 = timings_ms[int(len(timings_ms) * 0.95) - 1]
    print(
        f"GET /api/v1/campaigns/ ({options.campaigns} campaigns, page of {len(body['results'])}), "
        f"{options.requests} requests: "
        f"min {timings_ms[0]:.1f} ms, median {median:.1f} ms, p95 {p95:.1f} ms, max {timings_ms[-1]:.1f} ms"
    )
    result(median_ms=f"{median:.1f}", p95_ms=f"{p95:.1f}")


if __name__ == "__main__":
    main()
