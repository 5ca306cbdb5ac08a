"""Benchmark: import 10,000 item rules from CSV (goal: < 2 s), all-or-nothing.

Times `campaigns.services.item_rules_import_csv` end to end: decoding and
parsing the CSV, validating every row, checking duplicates against the file and
the campaign's existing rules, inserting (bulk_create) and bumping the version,
in one transaction. Three runs on fresh campaigns, plus one through the API
(`POST …/item-rules/import/` with a `text/csv` body to gunicorn, DEBUG off);
the slowest of all is reported. Migrates and creates its brand when needed:

    .venv/bin/python bench/csv_import.py [--rows 10000] [--runs 3]

Last line: `RESULT rows=10000 seconds=… loadavg=…`.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from _brand import BENCH_HOST, ensure_bench_brand, free_port, setup_django, start_gunicorn
from _report import result


def make_csv(rows: int) -> bytes:
    lines = ["kind,match,value,multiplier,bonus_per_unit"]
    for n in range(rows):
        if n % 4 == 0:
            lines.append(f"blacklist,category,category-{n:05d},,")
        else:
            lines.append(f"whitelist,sku,SKU-{n:05d},{1 + (n % 5) / 4},{(n % 3) * 0.25:.2f}")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="item rules in the CSV file")
    parser.add_argument("--runs", type=int, default=3, help="imports through the service")
    options = parser.parse_args()
    rows = options.rows
    setup_django()
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from campaigns.models import Campaign
    from campaigns.services import campaign_create, campaign_delete, item_rules_import_csv

    brand = ensure_bench_brand()
    content = make_csv(rows)
    timings = []
    with tenant_context(brand):
        Campaign.objects.filter(name__startswith="CSV bench").delete()
        for run in range(options.runs):
            campaign = campaign_create(
                actor="system",
                name=f"CSV bench {run}",
                kind="custom",
                starts_at=timezone.now(),
                ends_at=timezone.now() + timedelta(days=10),
                purchase_channels=["in_store"],
                currency="EUR",
            )
            started = time.perf_counter()
            outcome = item_rules_import_csv(campaign_id=campaign.pk, actor="system", content=content)
            timings.append(time.perf_counter() - started)
            assert outcome.imported == rows and campaign.item_rules.count() == rows
            campaign_delete(campaign_id=campaign.pk, actor="system")
    http_seconds = import_over_http(brand, content, rows)
    print(
        f"{rows} rows ({len(content) / 1024:.0f} KiB) per import, {options.runs} service runs: "
        + ", ".join(f"{t:.3f} s" for t in timings)
        + f"; through the API: {http_seconds:.3f} s"
    )
    result(rows=rows, seconds=f"{max([*timings, http_seconds]):.3f}")


def import_over_http(brand, content: bytes, rows: int) -> float:
    import requests
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from accounts.models import ApiKey
    from accounts.services import api_key_create
    from campaigns.models import Campaign
    from campaigns.services import campaign_create

    with tenant_context(brand):
        ApiKey.objects.filter(name="bench csv import").delete()
        _, key = api_key_create(name="bench csv import", role="crm")
        campaign = campaign_create(
            actor="system",
            name="CSV bench http",
            kind="custom",
            starts_at=timezone.now(),
            ends_at=timezone.now() + timedelta(days=10),
            purchase_channels=["in_store"],
            currency="EUR",
        )
    port = free_port()
    server = start_gunicorn(port)
    headers = {"Host": BENCH_HOST, "Authorization": f"Api-Key {key}"}
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/campaigns/{campaign.pk}/", headers=headers, timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not answer within 30 s")
            time.sleep(0.2)
        started = time.perf_counter()
        response = requests.post(
            f"{base}/campaigns/{campaign.pk}/item-rules/import/",
            data=content,
            headers={**headers, "Content-Type": "text/csv"},
            timeout=30,
        )
        seconds = time.perf_counter() - started
        if response.status_code != 201 or response.json()["imported"] != rows:
            raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")
    finally:
        server.terminate()
        server.wait(timeout=15)
        with tenant_context(brand):
            Campaign.objects.filter(pk=campaign.pk).delete()
    return seconds


if __name__ == "__main__":
    main()
