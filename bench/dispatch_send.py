"""Benchmark: sending a batch of dispatches, one request at a time vs. the thread pool.

Not a test. Run from the project root with a database of your own:

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python bench/dispatch_send.py [N] [LATENCY_MS]

It migrates the public schema if needed, creates (once) the brand `bench_dispatch`,
starts the fake partner (`partners/management/commands/fake_partner.py`) on a free
port with LATENCY_MS of added latency per answer (default 20 ms), creates N
(default 400) eligible purchases with their dispatches, and sends them all through
`dispatches.services.dispatch_send_batch` in batches of 100 ids (what one
`partners.send_dispatches` message carries) at several send concurrencies. Every
run must end with all N dispatches `sent` and one attempt each, or it fails loudly.
The rows are deleted at the end. The last line is

    RESULT sequential_per_s=<x> pooled_per_s=<x> ratio=<x> concurrency=<n> latency_ms=<n> n=<n>
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("PARTNER_URL_ALLOW_PRIVATE", "true")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_dispatch"
BATCH = 100


def ensure_brand() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenants_brand')")
        migrated = cursor.fetchone()[0] is not None
    if not migrated:
        call_command("migrate_schemas", "--shared", verbosity=0)
    from tenants.services import brand_create

    brand_create(schema_name=SCHEMA, name="Bench dispatch", domain="bench-dispatch.localhost")


def create_rows(n: int, submission_url: str, secret: str) -> list:
    from campaigns.models import Campaign
    from dispatches.models import Dispatch
    from partners.models import Partner
    from purchases.models import Evaluation, Purchase

    partner = Partner.objects.create(
        slug="bench-partner",
        name="Bench partner",
        submission_url=submission_url,
        auth_url=submission_url,
        secret=secret,
        timeout_seconds=5,
    )
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="Bench campaign",
        kind="custom",
        status="active",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        purchase_channels=["in_store"],
        currency="EUR",
        partner=partner,
    )
    purchases = Purchase.objects.bulk_create(
        Purchase(
            external_id=f"bench-{i}",
            customer_id=f"c-{i}",
            channel="in_store",
            purchased_at=now,
            currency="EUR",
            items=[{"sku": "A", "quantity": 1, "unit_price": "60.00"}],
            total=Decimal("60.00"),
            body_hash=f"{i:064x}",
        )
        for i in range(n)
    )
    Evaluation.objects.bulk_create(
        Evaluation(
            purchase=p,
            campaign=campaign,
            campaign_version=1,
            eligible=True,
            eligible_value=Decimal("60.00"),
            evaluated_at=now,
        )
        for p in purchases
    )
    dispatches = Dispatch.objects.bulk_create(
        Dispatch(purchase=p, campaign=campaign, partner=partner) for p in purchases
    )
    return [d.id for d in dispatches]


def delete_rows() -> None:
    from campaigns.models import Campaign
    from dispatches.models import Dispatch
    from partners.models import Partner
    from purchases.models import Purchase

    Dispatch.objects.all().delete()
    Purchase.objects.filter(external_id__startswith="bench-").delete()
    Campaign.objects.filter(name="Bench campaign").delete()
    Partner.objects.filter(slug="bench-partner").delete()


def reset(ids: list) -> None:
    from dispatches.models import Dispatch, DispatchAttempt

    DispatchAttempt.objects.filter(dispatch_id__in=ids).delete()
    Dispatch.objects.filter(id__in=ids).update(
        status="pending", attempts=0, attempt_base=0, sent_at=None, claimed_until=None, claim_token=None
    )


def run(ids: list, concurrency: int) -> float:
    from dispatches.models import Dispatch, DispatchAttempt
    from dispatches.services import dispatch_send_batch

    reset(ids)
    with override_settings(DISPATCH_SEND_CONCURRENCY=concurrency, DISPATCH_CLAIM_CHUNK=32):
        started = time.perf_counter()
        for start in range(0, len(ids), BATCH):
            dispatch_send_batch(dispatch_ids=ids[start : start + BATCH])
        elapsed = time.perf_counter() - started
    sent = Dispatch.objects.filter(id__in=ids, status="sent").count()
    attempts = DispatchAttempt.objects.filter(dispatch_id__in=ids).count()
    if sent != len(ids) or attempts != len(ids):
        raise SystemExit(f"FAILED: {sent} sent, {attempts} attempts for {len(ids)} dispatches")
    return len(ids) / elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    latency_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    from partners.management.commands.fake_partner import FakePartner, build_server
    from tests.partners.factories import make_whsec

    ensure_brand()
    secret = make_whsec()
    fake = FakePartner(secrets=[secret], latency_ms=latency_ms)
    server = build_server(fake, port=0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/submissions"
    figures: dict[int, float] = {}
    try:
        with schema_context(SCHEMA):
            delete_rows()
            ids = create_rows(n, url, secret)
            for concurrency in (1, 4, 8, 16):
                figures[concurrency] = run(ids, concurrency)
                print(f"concurrency {concurrency:>2}: {figures[concurrency]:8.1f} dispatches/s", flush=True)
            delete_rows()
    finally:
        server.shutdown()
        server.server_close()
    best = max((c for c in figures if c > 1), key=lambda c: figures[c])
    print(
        f"RESULT sequential_per_s={figures[1]:.1f} pooled_per_s={figures[best]:.1f} "
        f"ratio={figures[best] / figures[1]:.2f} concurrency={best} latency_ms={latency_ms} n={n}"
    )


if __name__ == "__main__":
    main()
