#!/usr/bin/env python
"""Where the CPU of the purchase pipeline goes, step by step, in one process (no HTTP, no Celery).

    .venv/bin/python bench/pipeline_steps.py [--batches 10]

Prepares the brand of `bench/pipeline.py` (migrated; its 10 campaigns and partner, its
purchases replaced: bench/_pipeline.py). Starts the bench partner server, then for
each batch of 1,000 purchases (the same mix as `bench/pipeline.py`) runs the
services the web request and the Celery task run — ingest, then evaluate and send
the dispatches — and measures, per step, this process's CPU time and the CPU time
of its PostgreSQL backend (read from /proc: the database runs on this machine).
Outbox messages are written as in production but relayed to a queue no worker
reads (the steps are called directly). Prints milliseconds per 1,000 purchases;
the last line is `RESULT ingest_py=… ingest_pg=… evaluate_send_py=… … total_ms=… loadavg=…`.

With `--customer-limits` (SPEC §12, ADR 0025) the batches run three times: without a per-customer
limit, with `max_rewards_per_customer` on all 10 campaigns (far above what a customer reaches, so the
same pairs are dispatched and only the limit's cost differs), and without again; the limited run is
compared with the mean of the two around it, and the statements each evaluation sends are counted
(the limit must add one statement per batch, not one per purchase). The last line is then
`RESULT unlimited_ms=… limited_ms=… limited_vs_unlimited=… statements_per_batch_unlimited=…
statements_per_batch_limited=… loadavg=…` (ms of Python + PostgreSQL CPU per 1,000 purchases for
ingest + evaluate + send).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from datetime import timedelta

import _brand  # bench/ is sys.path[0] when run as a script
import psutil

# Outbox messages go to a queue no worker reads: the steps are called directly.
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = "bench-pipeline-steps"
_brand.setup_django(PARTNER_URL_ALLOW_PRIVATE="true")

from _app import Dispatch  # noqa: E402
from _pipeline import SCHEMA, make_purchase, prepare_brand  # noqa: E402
from _report import result  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402


def backend_cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


class StatementCosts:
    """A Django execute wrapper: PostgreSQL backend CPU per kind of statement (its first words)."""

    def __init__(self, backend: int) -> None:
        self.backend = backend
        self.spent: dict[str, list[float]] = {}

    def __call__(self, execute, sql, params, many, context):
        before = backend_cpu_seconds(self.backend)
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(str(sql).split()[:6])[:70]
            entry = self.spent.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += backend_cpu_seconds(self.backend) - before


def measure_outside_execute(statements: StatementCosts) -> None:
    """COPY and COMMIT do not go through execute wrappers: time them by wrapping their callers."""
    from purchases import services

    def timed(key: str, function):
        def wrapper(*args, **kwargs):
            before = backend_cpu_seconds(statements.backend)
            try:
                return function(*args, **kwargs)
            finally:
                entry = statements.spent.setdefault(key, [0, 0.0])
                entry[0] += 1
                entry[1] += backend_cpu_seconds(statements.backend) - before

        return wrapper

    services._copy_evaluations = timed("COPY purchases_evaluation", services._copy_evaluations)
    connection.commit = timed("COMMIT (any)", connection.commit)
    connection._commit = timed("COMMIT (atomic blocks)", connection._commit)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"the partner server did not listen on {port} within {timeout:.0f} s"
                ) from None
            time.sleep(0.1)


class Steps:
    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = {}
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]

    def run(self, name: str, function, *args, **kwargs):
        python, database = time.process_time(), backend_cpu_seconds(self.backend)
        result = function(*args, **kwargs)
        entry = self.spent.setdefault(name, [0.0, 0.0])
        entry[0] += time.process_time() - python
        entry[1] += backend_cpu_seconds(self.backend) - database
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--partner-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--per-statement", action="store_true", help="also PostgreSQL CPU per statement")
    parser.add_argument(
        "--customer-limits",
        action="store_true",
        help="compare with max_rewards_per_customer on every campaign, bracketed by unlimited runs",
    )
    args = parser.parse_args()
    if args.customer_limits:
        compare_customer_limits(args)
        return
    port = args.partner_port or _brand.free_port()

    from purchases.services import purchases_evaluate, purchases_ingest

    prepare_brand(port)
    partner_server = subprocess.Popen(
        [sys.executable, "-m", "bench.partner_server", "--port", str(port)], cwd=_brand.ROOT
    )
    wait_for_port(port)
    rng = random.Random(11)
    purchased_at = (timezone.now() - timedelta(minutes=5)).isoformat()
    run_id = int(time.time())
    try:
        with schema_context(SCHEMA):
            steps = Steps()
            statements = StatementCosts(steps.backend)
            if args.per_statement:
                connection.execute_wrappers.append(statements)
                measure_outside_execute(statements)
            for batch in range(-1, args.batches):  # batch -1 warms up (imports, caches): not counted
                if batch == 0:
                    steps.spent.clear()
                    statements.spent.clear()
                bodies = [
                    make_purchase(rng, f"steps-{run_id}-{batch}-{n}", purchased_at)[0] for n in range(1000)
                ]
                results = steps.run("ingest", purchases_ingest, bodies=bodies)
                ids = [r.purchase_id for r in results]
                # The evaluation task also sends the dispatches it creates (their first attempt).
                steps.run("evaluate+send", purchases_evaluate, purchase_ids=ids)
                dispatches = Dispatch.objects.filter(purchase_id__in=ids)
                assert dispatches.count() == dispatches.filter(status="sent").count() > 0
    finally:
        partner_server.terminate()
    for key, (count, seconds) in sorted(statements.spent.items(), key=lambda kv: -kv[1][1])[:25]:
        print(f"  pg {seconds * 1000 / args.batches:6.1f} ms  {count:5d}×  {key}")
    total_py = total_pg = 0.0
    figures: dict[str, str] = {}
    for name, (python, database) in steps.spent.items():
        python, database = python * 1000 / args.batches, database * 1000 / args.batches
        total_py, total_pg = total_py + python, total_pg + database
        print(f"{name:14s} python {python:6.1f} ms   postgres {database:6.1f} ms   per 1,000 purchases")
        key = name.replace("+", "_")
        figures[f"{key}_py"], figures[f"{key}_pg"] = f"{python:.1f}", f"{database:.1f}"
    print(f"{'total':14s} python {total_py:6.1f} ms   postgres {total_pg:6.1f} ms")
    result(**figures, total_ms=f"{total_py + total_pg:.1f}")


class StatementCount:
    """A Django execute wrapper counting the statements sent while `counting` is set."""

    def __init__(self) -> None:
        self.counting = False
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        if self.counting:
            self.count += 1
        return execute(sql, params, many, context)


def set_customer_limits(limit: int | None) -> None:
    from campaigns.models import Campaign, CustomerRewardCount

    with schema_context(SCHEMA):
        CustomerRewardCount.objects.all().delete()
        # An edit of the campaign bumps its version: the compiled snapshots are rebuilt with the limit.
        for campaign in Campaign.objects.all():
            Campaign.objects.filter(pk=campaign.pk).update(
                max_rewards_per_customer=limit, version=campaign.version + 1
            )


def compare_customer_limits(args) -> None:
    from purchases.services import purchases_evaluate, purchases_ingest

    port = args.partner_port or _brand.free_port()
    prepare_brand(port)
    set_customer_limits(None)
    partner_server = subprocess.Popen(
        [sys.executable, "-m", "bench.partner_server", "--port", str(port)], cwd=_brand.ROOT
    )
    wait_for_port(port)
    rng = random.Random(11)
    purchased_at = (timezone.now() - timedelta(minutes=5)).isoformat()
    run_id = int(time.time())
    phases: list[tuple[str, float, float]] = []
    try:
        with schema_context(SCHEMA):
            counter = StatementCount()
            connection.execute_wrappers.append(counter)
            for name, limit in (("unlimited", None), ("limited", 1000), ("unlimited again", None)):
                set_customer_limits(limit)
                steps = Steps()
                counter.count = 0
                eligible = 0
                for batch in range(-1, args.batches):  # batch -1 warms up: not counted
                    if batch == 0:
                        steps.spent.clear()
                        counter.count = 0
                        eligible = 0
                    bodies = [
                        make_purchase(rng, f"limits-{run_id}-{name}-{batch}-{n}", purchased_at)[0]
                        for n in range(1000)
                    ]
                    ids = [r.purchase_id for r in steps.run("ingest", purchases_ingest, bodies=bodies)]
                    counter.counting = True
                    outcome = steps.run("evaluate+send", purchases_evaluate, purchase_ids=ids)
                    counter.counting = False
                    eligible += outcome.eligible
                spent = sum(python + database for python, database in steps.spent.values())
                ms = spent * 1000 / args.batches
                per_batch = counter.count / args.batches
                print(
                    f"{name:16s} {ms:7.1f} ms CPU per 1,000 purchases, {per_batch:5.1f} statements per"
                    f" evaluation batch, {eligible / args.batches:6.1f} eligible pairs per batch",
                    flush=True,
                )
                phases.append((name, ms, per_batch))
    finally:
        partner_server.terminate()
        set_customer_limits(None)
    unlimited_ms = (phases[0][1] + phases[2][1]) / 2
    limited_ms = phases[1][1]
    result(
        unlimited_ms=f"{unlimited_ms:.1f}",
        limited_ms=f"{limited_ms:.1f}",
        limited_vs_unlimited=f"{unlimited_ms / limited_ms:.3f}",
        statements_per_batch_unlimited=f"{(phases[0][2] + phases[2][2]) / 2:.1f}",
        statements_per_batch_limited=f"{phases[1][2]:.1f}",
    )


if __name__ == "__main__":
    main()
