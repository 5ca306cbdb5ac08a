"""Benchmark: bulk pause and resume of 1,000 campaigns, export and import of 1,000 campaigns × 100 rules.

Creates a throw-away brand (`bench_bulk`) with 1,000 active campaigns of 100 item rules each, then
times, in one run:

* `bulk` — `POST /campaigns/bulk/` pause of all 1,000 ids, then resume (the slower of the two; each id
  its own transaction, transition and audit row), through the in-process DRF client;
* the baseline — the same 1,000 pauses as 1,000 single `POST /campaigns/{id}/pause/` requests (what a
  client does without the bulk endpoint);
* `export` — `campaigns.transfer.campaigns_export` of the 1,000 campaigns, encoded as JSON;
* `import` — `campaigns.transfer.campaigns_import` of that document (`on_conflict=rename`: 1,000 new
  drafts, 100,000 rules), after decoding it. (The service, not the HTTP endpoint: a 10 MB body is over
  Django's default DATA_UPLOAD_MAX_MEMORY_SIZE; the endpoint adds only the JSON parse.)

The last line is

    RESULT bulk_1000_ms=… export_1000_ms=… import_1000_ms=… single_requests_1000_ms=… loadavg=…

Goal (issue 18): each of bulk, export, import < 2,000 ms. Drops the schema at the end unless --keep.

    .venv/bin/python bench/bulk.py [--campaigns 1000] [--rules 100] [--keep]
"""

from __future__ import annotations

import argparse
import json
import time

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django()

from _report import result  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_bulk"
HOST = "bench-bulk.localhost"


def fill(campaigns: int, rules: int) -> list[int]:
    from datetime import timedelta

    from _app import partner_create
    from django.utils import timezone

    from campaigns.models import Campaign

    partner = partner_create(slug="bench-bulk")
    now = timezone.now()
    rows = Campaign.objects.bulk_create(
        Campaign(
            name=f"Bulk {n}",
            kind="custom",
            status="active",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=60),
            purchase_channels=["in_store", "ecommerce"],
            currency="EUR",
            partner=partner,
            reward={"type": "voucher", "value": "5.00", "description": "5 off"},
            notification={"title": "Hi", "body": "{{ award.value }}"},
        )
        for n in range(campaigns)
    )
    ids = [c.pk for c in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_itemrule (campaign_id, kind, match, value, multiplier, bonus_per_unit, created_at)
            SELECT c, CASE WHEN r %% 2 = 0 THEN 'whitelist' ELSE 'blacklist' END, 'sku', 'SKU-' || r, 1.5, 0.25, now()
            FROM unnest(%s::bigint[]) AS c, generate_series(1, %s) AS r
            """,
            [ids, rules],
        )
        cursor.execute("ANALYZE campaigns_campaign; ANALYZE campaigns_itemrule")
    return ids


def crm_client():
    from rest_framework.test import APIClient

    from accounts.services import api_key_create

    _, key = api_key_create(name="bench bulk", role="crm")
    client = APIClient(HTTP_HOST=HOST)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    value = work()
    return (time.perf_counter() - started) * 1000, value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from campaigns.models import Campaign
    from campaigns.transfer import campaigns_export, campaigns_import

    _brand.drop_brand(SCHEMA)
    _brand.brand_ready(SCHEMA, "Bench bulk", HOST)
    try:
        with schema_context(SCHEMA):
            ids = fill(args.campaigns, args.rules)
            client = crm_client()
            print(f"{len(ids)} campaigns × {args.rules} item rules", flush=True)

            def bulk(action: str):
                response = client.post(
                    "/api/v1/campaigns/bulk/", {"action": action, "ids": ids}, format="json"
                )
                assert response.status_code == 200, response.content[:300]
                statuses = {r["status"] for r in response.json()["results"]}
                assert statuses == {"ok"}, statuses
                return response

            pause_ms, _ = timed(lambda: bulk("pause"))
            resume_ms, _ = timed(lambda: bulk("resume"))
            print(f"bulk pause {pause_ms:.0f} ms, bulk resume {resume_ms:.0f} ms", flush=True)

            def singles():
                for campaign_id in ids:
                    assert client.post(f"/api/v1/campaigns/{campaign_id}/pause/").status_code == 200

            single_ms, _ = timed(singles)
            print(f"baseline: {len(ids)} single pause requests {single_ms:.0f} ms", flush=True)

            export_ms, text = timed(lambda: json.dumps(campaigns_export(ids=ids)))
            print(f"export {export_ms:.0f} ms ({len(text) / 1e6:.1f} MB)", flush=True)
            import_ms, imported = timed(
                lambda: campaigns_import(document=json.loads(text), actor="user:bench", on_conflict="rename")
            )
            assert len(imported.campaigns) == len(ids)
            assert Campaign.objects.filter(status="draft").count() == len(ids)
            print(f"import {import_ms:.0f} ms", flush=True)
    finally:
        connection.set_schema_to_public()
        if not args.keep:
            _brand.drop_brand(SCHEMA)
    result(
        campaigns=len(ids),
        rules_per_campaign=args.rules,
        bulk_1000_ms=f"{max(pause_ms, resume_ms):.0f}",
        export_1000_ms=f"{export_ms:.0f}",
        import_1000_ms=f"{import_ms:.0f}",
        single_requests_1000_ms=f"{single_ms:.0f}",
    )


if __name__ == "__main__":
    main()
