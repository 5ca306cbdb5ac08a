"""Benchmark: import 10,000 item rules from CSV (goal: < 2 s), all-or-nothing.

Times `campaigns.services.item_rules_import_csv` end to end: decoding and
parsing the CSV, validating every row, checking duplicates against the file and
the campaign's existing rules, inserting (bulk_create) and bumping the version,
in one transaction. Three runs on fresh campaigns; the slowest is reported.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cbo REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/csv_import.py

Last line: `RESULT rows=10000 seconds=…`.
"""

from __future__ import annotations

import time
from datetime import timedelta

from _brand import ensure_bench_brand, setup_django

ROWS = 10_000
RUNS = 3


def make_csv() -> bytes:
    lines = ["kind,match,value,multiplier,bonus_per_unit"]
    for n in range(ROWS):
        if n % 4 == 0:
            lines.append(f"blacklist,category,category-{n:05d},,")
        else:
            lines.append(f"whitelist,sku,SKU-{n:05d},{1 + (n % 5) / 4},{(n % 3) * 0.25:.2f}")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    setup_django()
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from campaigns.models import Campaign
    from campaigns.services import campaign_create, campaign_delete, item_rules_import_csv

    brand = ensure_bench_brand()
    content = make_csv()
    timings = []
    with tenant_context(brand):
        Campaign.objects.filter(name__startswith="CSV bench").delete()
        for run in range(RUNS):
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
            result = item_rules_import_csv(campaign_id=campaign.pk, actor="system", content=content)
            timings.append(time.perf_counter() - started)
            assert result.imported == ROWS and campaign.item_rules.count() == ROWS
            campaign_delete(campaign_id=campaign.pk, actor="system")
    print(
        f"{ROWS} rows ({len(content) / 1024:.0f} KiB) per import, {RUNS} runs: "
        + ", ".join(f"{t:.3f} s" for t in timings)
    )
    print(f"RESULT rows={ROWS} seconds={max(timings):.3f}")


if __name__ == "__main__":
    main()
