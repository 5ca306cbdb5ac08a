"""Benchmark: sending a batch of dispatches, one request at a time vs. the thread pool.

Not a test. Run from the project root (DATABASE_URL's database, or the embedded one when unset):

    .venv/bin/python bench/dispatch_send.py [N] [LATENCY_MS]

It migrates the public schema if needed, creates (once) the brand `bench_dispatch`,
starts the fake partner (the `manage.py fake_partner` server, in-process) on a free
port with LATENCY_MS of added latency per answer (default 20 ms), creates N
(default 400) eligible purchases with their dispatches, and sends them all through
`dispatches.services.dispatch_send_batch` in batches of 100 ids (what one
`partners.send_dispatches` message carries) at several send concurrencies. Every
run must end with all N dispatches `sent` and one attempt each, or it fails loudly.
The rows are deleted at the end. The last line is

    RESULT sequential_per_s=<x> pooled_per_s=<x> ratio=<x> concurrency=<n> latency_ms=<n> n=<n> loadavg=…
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import timedelta
from decimal import Decimal

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django(PARTNER_URL_ALLOW_PRIVATE="true")

from _app import (  # noqa: E402
    Dispatch,
    DispatchAttempt,
    FakePartner,
    Partner,
    build_server,
    dispatch_send_batch,
    partner_create,
    partner_secret_generate,
)
from _report import result  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_dispatch"
BATCH = 100


def create_rows(n: int, base_url: str, secret: str) -> list:
    from campaigns.models import Campaign
    from purchases.models import Evaluation, Purchase

    partner = partner_create(base_url=base_url, secret=secret)
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
    from purchases.models import Purchase

    Dispatch.objects.all().delete()
    Purchase.objects.filter(external_id__startswith="bench-").delete()
    Campaign.objects.filter(name="Bench campaign").delete()
    Partner.objects.filter(slug="bench-partner").delete()


def reset(ids: list) -> None:
    DispatchAttempt.objects.filter(dispatch_id__in=ids).delete()
    Dispatch.objects.filter(id__in=ids).update(
        status="pending", attempts=0, attempt_base=0, sent_at=None, claimed_until=None, claim_token=None
    )


def run(ids: list, concurrency: int) -> float:
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=400, help="dispatches per run")
    parser.add_argument("latency_ms", nargs="?", type=int, default=20, help="the partner's added latency")
    options = parser.parse_args()
    n, latency_ms = options.n, options.latency_ms

    _brand.brand_ready(SCHEMA, "Bench dispatch", "bench-dispatch.localhost")
    secret = partner_secret_generate()
    fake = FakePartner(secrets=[secret], latency_ms=latency_ms)
    server = build_server(fake, port=0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
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
    result(
        sequential_per_s=f"{figures[1]:.1f}",
        pooled_per_s=f"{figures[best]:.1f}",
        ratio=f"{figures[best] / figures[1]:.2f}",
        concurrency=best,
        latency_ms=latency_ms,
        n=n,
    )


if __name__ == "__main__":
    main()
