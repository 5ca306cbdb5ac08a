"""Benchmark: generate 1,000,000 promo codes, then validate and redeem them at 200 requests/s (SPEC §12).

In a throw-away brand (`bench_codes`) with one active promotion campaign:

* `generate_s` — one batch of `--codes` single-use codes (the default pattern, 8 of 31 characters):
  `code_batch_create` then the generation job's task body `code_batch_generate`, in this process (what
  the Celery worker runs), until the job is `done`; every code is checked to exist once;
* then, through the production web tier (gunicorn, `--workers` sync workers, DEBUG off) on 127.0.0.1,
  with an ingest API key, an open-loop load of `--rate` requests/s (requests start on a fixed schedule,
  whatever the answers' pace; latency is measured from the scheduled start, so a queue behind a slow
  answer counts) for `--seconds` each:
  - `validate` — `POST /api/v1/codes/validate/` of random codes of the batch (any case);
  - `redeem` — `POST /api/v1/redemptions/` `mode=commit`, each request a different code and
    Idempotency-Key (every one a real use: a conditional UPDATE, the redemption row, its audit);
  - the baseline, same rate and length, `GET /api/v1/redemptions/{id}/` (key check and one row by
    primary key): the floor of this web tier on this machine in this run.

The last line is

    RESULT codes=1000000 generate_s=… validate_p95_ms=… redeem_p95_ms=… baseline_p95_ms=… rate=… seconds=…
           validate_per_s=… redeem_per_s=… baseline_per_s=… failed=… loadavg=…

(`*_per_s`: answers per second achieved; below `rate`, the web tier is saturated and the p95 is queueing.)

Goals (issue 17): generation < 60 s, validate p95 < 20 ms, redeem p95 < 50 ms. `--quick`: 100,000 codes
and 5 s per phase. Drops the schema at the end unless --keep.

    .venv/bin/python bench/codes.py [--quick] [--codes 1000000] [--rate 200] [--seconds 30] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
import uuid

import _brand  # bench/ is sys.path[0] when run as a script

_brand.setup_django()

from _report import result  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SCHEMA = "bench_codes"
HOST = "bench-codes.localhost"
ORDER = {
    "currency": "EUR",
    "items": [
        {"sku": "SKU-A", "category": "toys", "quantity": 2, "unit_price": "20.00"},
        {"sku": "SKU-B", "category": "books", "quantity": 1, "unit_price": "20.00"},
    ],
}


def prepare(codes: int) -> tuple[int, float, str]:
    """The campaign, its batch generated (timed) and an ingest key: (campaign id, seconds, key)."""
    from datetime import timedelta
    from decimal import Decimal

    from _app import partner_create
    from django.utils import timezone

    from accounts.services import api_key_create
    from campaigns.models import Campaign
    from promotions.services import BatchInput, code_batch_create, code_batch_generate

    partner = partner_create(slug="bench-codes")
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="Bench codes",
        kind="promotion",
        status="active",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        purchase_channels=["in_store", "ecommerce"],
        currency="EUR",
        min_purchase_value=Decimal(0),
        partner=partner,
        reward={"type": "voucher", "value": "5.00", "description": "5 off"},
        notification={"title": "Hi", "body": "{{ award.value }}"},
    )
    started = time.perf_counter()
    batch = code_batch_create(
        actor="system",
        campaign_id=campaign.pk,
        data=BatchInput(count=codes, max_redemptions=1, benefit={"type": "percent", "value": "10"}),
    )
    job = code_batch_generate(job_id=batch.job_id)
    seconds = time.perf_counter() - started
    if job.status != "done":
        raise SystemExit(f"generation ended {job.status}: {job.error}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT upper(code)) FROM promotions_promocode WHERE batch_id = %s",
            [batch.pk],
        )
        made, distinct = cursor.fetchone()
        cursor.execute("ANALYZE promotions_promocode")
    if made != codes or distinct != codes:
        raise SystemExit(f"expected {codes} distinct codes, found {made} ({distinct} distinct)")
    _row, key = api_key_create(name="bench codes ingest", role="ingest")
    return campaign.pk, seconds, key


def sample_codes(campaign_id: int, count: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT code FROM promotions_promocode TABLESAMPLE SYSTEM (5) WHERE campaign_id = %s LIMIT %s",
            [campaign_id, count],
        )
        codes = [row[0] for row in cursor.fetchall()]
        if len(codes) < count:
            cursor.execute(
                "SELECT code FROM promotions_promocode WHERE campaign_id = %s ORDER BY random() LIMIT %s",
                [campaign_id, count],
            )
            codes = [row[0] for row in cursor.fetchall()]
    random.shuffle(codes)
    return codes


class Load:
    """Open loop: request i starts at t0 + i / rate on one of `senders` threads (keep-alive each)."""

    def __init__(self, port: int, key: str, *, senders: int = 24) -> None:
        self.port, self.key, self.senders = port, key, senders

    def run(self, make_request, *, rate: float, seconds: float) -> tuple[list[float], int, float]:
        """(sorted latencies in ms of the answers as expected, failures, answers per second achieved)."""
        total = int(rate * seconds)
        timings: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        next_index = iter(range(total))
        t0 = time.perf_counter() + 0.2

        def sender() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    break
                scheduled = t0 + index / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                method, path, body, expected = make_request(index)
                headers = {
                    "Host": HOST,
                    "Authorization": f"Api-Key {self.key}",
                    "Content-Type": "application/json",
                }
                if isinstance(body, tuple):
                    body, extra = body
                    headers.update(extra)
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    status = response.status
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    with lock:
                        failures.append(repr(exc))
                    continue
                elapsed_ms = (time.perf_counter() - scheduled) * 1000
                with lock:
                    if status != expected:
                        failures.append(f"{status} {payload[:200]!r}")
                    else:
                        timings.append(elapsed_ms)
            conn.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(self.senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        per_s = len(timings) / (time.perf_counter() - started)
        if failures:
            print(f"  {len(failures)} failed requests, e.g. {failures[:3]}")
        return sorted(timings), len(failures), per_s


def p95(timings: list[float]) -> float:
    return timings[max(0, int(len(timings) * 0.95) - 1)] if timings else float("nan")


def describe(name: str, timings: list[float], failures: int, per_s: float) -> None:
    print(
        f"{name}: {len(timings)} ok ({per_s:.0f}/s answered), {failures} failed; "
        f"p50 {statistics.median(timings):.1f} ms, p95 {p95(timings):.1f} ms, max {timings[-1]:.1f} ms"
    )


def wait_until_up(port: int, key: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/codes/", headers={"Host": HOST, "Authorization": f"Api-Key {key}"})
            if conn.getresponse().status in (200, 403):
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--codes", type=int, default=None)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second in each phase")
    parser.add_argument("--seconds", type=float, default=None, help="length of each phase")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--quick", action="store_true", help="100,000 codes and 5 s phases")
    parser.add_argument("--keep", action="store_true", help="keep the brand's schema")
    args = parser.parse_args()
    codes = args.codes or (100_000 if args.quick else 1_000_000)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    requests_per_phase = int(args.rate * seconds)

    _brand.drop_brand(SCHEMA)
    brand = _brand.brand_ready(SCHEMA, "Bench codes", HOST)
    server = None
    try:
        with schema_context(brand.schema_name):
            campaign_id, generate_s, key = prepare(codes)
            print(f"generated {codes:,} codes in {generate_s:.1f} s ({codes / generate_s:,.0f}/s)")
            to_validate = sample_codes(campaign_id, requests_per_phase)
            to_redeem = sample_codes(campaign_id, requests_per_phase)
            if len(to_redeem) < requests_per_phase:
                raise SystemExit("not enough codes for the redeem phase")
        port = _brand.free_port()
        server = _brand.start_gunicorn(port, workers=args.workers)
        wait_until_up(port, key)
        load = Load(port, key)
        run = uuid.uuid4().hex[:8]

        def validate(index: int):
            code = to_validate[index % len(to_validate)]
            body = {"code": code.lower() if index % 2 else code, "customer_id": f"v-{index}", "order": ORDER}
            return "POST", "/api/v1/codes/validate/", json.dumps(body), 200

        def redeem(index: int):
            body = {
                "code": to_redeem[index],
                "customer_id": f"r-{index}",
                "order_ref": f"order-{run}-{index}",
                "order": ORDER,
                "mode": "commit",
            }
            return (
                "POST",
                "/api/v1/redemptions/",
                (json.dumps(body), {"Idempotency-Key": f"{run}-{index}"}),
                201,
            )

        # Warm-up: each worker's connections, the campaign snapshot, the key cache.
        load.run(validate, rate=50, seconds=2)
        validate_ms, validate_failed, validate_per_s = load.run(validate, rate=args.rate, seconds=seconds)
        describe("validate", validate_ms, validate_failed, validate_per_s)
        redeem_ms, redeem_failed, redeem_per_s = load.run(redeem, rate=args.rate, seconds=seconds)
        describe("redeem (commit)", redeem_ms, redeem_failed, redeem_per_s)
        with schema_context(brand.schema_name):
            from promotions.models import Redemption

            redemption_ids = list(Redemption.objects.values_list("id", flat=True)[:1000])
            committed = Redemption.objects.filter(status="committed").count()
        print(f"  {committed:,} redemptions committed")

        def baseline(index: int):
            return "GET", f"/api/v1/redemptions/{redemption_ids[index % len(redemption_ids)]}/", None, 200

        baseline_ms, baseline_failed, baseline_per_s = load.run(baseline, rate=args.rate, seconds=seconds)
        describe("baseline GET /redemptions/{id}/", baseline_ms, baseline_failed, baseline_per_s)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        connection.set_schema_to_public()
        if not args.keep:
            _brand.drop_brand(SCHEMA)
    result(
        codes=codes,
        generate_s=f"{generate_s:.1f}",
        validate_p95_ms=f"{p95(validate_ms):.1f}",
        redeem_p95_ms=f"{p95(redeem_ms):.1f}",
        baseline_p95_ms=f"{p95(baseline_ms):.1f}",
        rate=int(args.rate),
        seconds=int(seconds),
        validate_per_s=f"{validate_per_s:.0f}",
        redeem_per_s=f"{redeem_per_s:.0f}",
        baseline_per_s=f"{baseline_per_s:.0f}",
        failed=validate_failed + redeem_failed + baseline_failed,
    )


if __name__ == "__main__":
    main()
