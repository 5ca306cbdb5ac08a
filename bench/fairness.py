"""Fairness between brands (ADR 0017): brand A floods purchases, brand B sends one a second.

    .venv/bin/python bench/fairness.py                  # 200,000 purchases of brand A
    .venv/bin/python bench/fairness.py --purchases 5000 # QUICK size

A Celery worker (its own queue, `--concurrency`) runs the brand lanes. Purchases are ingested
through `purchases_ingest` in this process (batches of `--batch`, the API's unit), so the figure
is ingest → evaluation, without HTTP. The brands have no campaign: evaluation is the claim of
the rows and the lane's turns, the part fairness is about.

1. A alone: A's N purchases are ingested with no worker running (the whole backlog is queued),
   then a worker starts; `a_alone_per_s` is N over the time until the last one is evaluated.
2. The same again while B ingests one purchase a second from the worker's start; `a_per_s`
   likewise, and B's latencies `evaluated_at - received_at`, p50 and p99.

With `--rounds N` the two phases alternate N times and the best of each is kept (the cores are
shared: the other sessions' load changes between phases). Each phase also measures the CPU time of
the worker's processes and of this database's PostgreSQL backends over the drain: `a_cpu_ms_per_1000`
(alone) and `a_with_b_cpu_ms_per_1000`, a figure the neighbours' load does not move much.

The last line is `RESULT b_p50_ms=… b_p99_ms=… a_per_s=… a_alone_per_s=… b_purchases=…
a_vs_alone=… a_cpu_ms_per_1000=… a_with_b_cpu_ms_per_1000=… rounds=… loadavg=…`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._brand import ROOT, brand_ready, setup_django
from bench._report import result

QUEUE = f"bench-fairness-{os.getpid()}"
BRAND_A, BRAND_B = "bench_fair_a", "bench_fair_b"
LOG_DIR = ROOT / ".data" / "bench-fairness"


def body(index: int, prefix: str) -> dict:
    return {
        "external_id": f"{prefix}-{time.time_ns()}-{index}",
        "customer_id": "cust-1",
        "channel": "in_store",
        "purchased_at": "2026-01-01T10:00:00+00:00",
        "currency": "EUR",
        "items": [{"sku": "SKU-A", "quantity": 1, "unit_price": "10.00"}],
    }


def reset(schema: str) -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("TRUNCATE purchases_evaluation, purchases_purchase, outbox_outboxmessage CASCADE")


def unevaluated(schema: str) -> int:
    from django_tenants.utils import schema_context

    from purchases.models import Purchase

    with schema_context(schema):
        return Purchase.objects.filter(evaluated_at__isnull=True).count()


def queue_a_backlog(count: int, batch: int) -> None:
    """Ingest A's purchases with no worker running: the backlog is all queued when the worker starts."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from purchases.services import purchases_ingest

    with schema_context(BRAND_A):
        for start in range(0, count, batch):
            purchases_ingest(bodies=[body(i, "a") for i in range(start, min(count, start + batch))])
    connection.close()


def start_worker(concurrency: int) -> subprocess.Popen:
    from config.celery import app

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    output = open(LOG_DIR / "worker.log", "ab")  # the worker writes it until stopped
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", str(concurrency),
         "--queues", QUEUE, "--hostname", f"fair-{os.getpid()}@%h", "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=os.environ.copy(), start_new_session=True,
        stdout=output, stderr=output,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1.0):
        if time.monotonic() > deadline:
            os.killpg(worker.pid, signal.SIGTERM)
            raise SystemExit("the celery worker did not come up")
    return worker


def stop_worker(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=30)


def cpu_seconds(worker: subprocess.Popen) -> float:
    """CPU time so far of the worker's process tree and of this database's PostgreSQL backends."""
    import psutil
    from django.db import connection

    database = connection.settings_dict["NAME"]
    procs = []
    try:
        root = psutil.Process(worker.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if cmdline.startswith("postgres: ") and f" {database} " in f"{cmdline} ":
            procs.append(proc)
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def drain_a(args: argparse.Namespace, with_b: bool) -> tuple[float, float]:
    """A's backlog drained by a fresh worker (with B trickling or not); returns A's purchases per second
    and the CPU ms (worker + PostgreSQL backends) per 1,000 of A's purchases.

    The rate is N over the span of A's `evaluated_at` (first to last), so the worker's start-up is
    not counted; B trickles from the worker's launch.
    """
    from django.db.models import Max, Min
    from django_tenants.utils import schema_context

    from purchases.models import Purchase

    reset(BRAND_A)
    reset(BRAND_B)
    queue_a_backlog(args.purchases, args.batch)
    stop = threading.Event()
    trickle = threading.Thread(target=trickle_b, args=(stop,))
    if with_b:
        trickle.start()
    worker = start_worker(args.concurrency)
    cpu_before = cpu_seconds(worker)
    try:
        while unevaluated(BRAND_A):
            time.sleep(0.05)
        stop.set()
        if with_b:
            trickle.join()
            while unevaluated(BRAND_B):
                time.sleep(0.1)
        cpu = cpu_seconds(worker) - cpu_before
    finally:
        stop.set()
        stop_worker(worker)
    with schema_context(BRAND_A):
        span = Purchase.objects.aggregate(first=Min("evaluated_at"), last=Max("evaluated_at"))
    return args.purchases / max(
        (span["last"] - span["first"]).total_seconds(), 1e-3
    ), cpu * 1e6 / args.purchases


def b_latencies_ms() -> list[float]:
    """B's ingest → evaluation, for its purchases received while A's backlog was draining."""
    from django.db.models import Max, Min
    from django_tenants.utils import schema_context

    from purchases.models import Purchase

    with schema_context(BRAND_A):
        span = Purchase.objects.aggregate(first=Min("evaluated_at"), last=Max("evaluated_at"))
    with schema_context(BRAND_B):
        rows = Purchase.objects.filter(
            evaluated_at__isnull=False, received_at__gte=span["first"], received_at__lte=span["last"]
        ).values_list("received_at", "evaluated_at")
        return sorted((evaluated - received) / timedelta(milliseconds=1) for received, evaluated in rows)


def trickle_b(stop: threading.Event) -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    from purchases.services import purchases_ingest

    index = 0
    while not stop.is_set():
        with schema_context(BRAND_B):
            purchases_ingest(bodies=[body(index, "b")])
        index += 1
        stop.wait(1.0)
    connection.close()


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--purchases", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the two phases, keep the best")
    args = parser.parse_args()
    setup_django(CELERY_TASK_DEFAULT_QUEUE=QUEUE)
    brand_ready(BRAND_A, "Bench fairness A", "bench-fair-a.localhost")
    brand_ready(BRAND_B, "Bench fairness B", "bench-fair-b.localhost")
    print(
        f"brand A: {args.purchases} purchases in batches of {args.batch}; worker concurrency {args.concurrency}"
    )
    alone: list[tuple[float, float]] = []
    with_b: list[tuple[float, float]] = []
    latencies: list[float] = []
    for round_number in range(1, args.rounds + 1):
        alone.append(drain_a(args, with_b=False))
        print(
            f"round {round_number}: A alone {alone[-1][0]:.0f} purchases/s, {alone[-1][1]:.0f} CPU ms per 1,000"
            f" (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
        with_b.append(drain_a(args, with_b=True))
        round_latencies = b_latencies_ms()
        latencies.extend(round_latencies)
        print(
            f"round {round_number}: A with B {with_b[-1][0]:.0f} purchases/s, {with_b[-1][1]:.0f} CPU ms per 1,000;"
            f" B: {len(round_latencies)} purchases (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    latencies.sort()
    a_alone, a_with_b = max(rate for rate, _ in alone), max(rate for rate, _ in with_b)
    cpu_alone, cpu_with_b = min(cpu for _, cpu in alone), min(cpu for _, cpu in with_b)
    result(
        b_p50_ms=f"{percentile(latencies, 0.5):.0f}",
        b_p99_ms=f"{percentile(latencies, 0.99):.0f}",
        a_per_s=f"{a_with_b:.0f}",
        a_alone_per_s=f"{a_alone:.0f}",
        b_purchases=len(latencies),
        a_vs_alone=f"{a_with_b / a_alone - 1:+.1%}",
        a_cpu_ms_per_1000=f"{cpu_alone:.0f}",
        a_with_b_cpu_ms_per_1000=f"{cpu_with_b:.0f}",
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
