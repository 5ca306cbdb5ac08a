#!/usr/bin/env python
"""`make run`'s own stack under load from outside, against bench/pipeline.py's figure, in one run.

    .venv/bin/python bench/make_run.py [--seconds 30]

1. bench/pipeline.py's fast path exactly as that benchmark runs it (its brand `bench_pipeline`, its
   gunicorn + Celery worker, its load generator pacing on the broker's queue length): the
   `pipeline_per_s` figure, purchases/s fully processed (evaluated, every eligible pair sent to the
   partner);
2. the stack of `make run` — `scripts/run_stack.sh` itself (web, worker, beat and the demo partner,
   with the settings it ships; `bootstrap_demo` first, as `make run` does) — fed by the same purchases
   through `POST /api/v1/purchases/batch/`, as a black box: the load generator does not look at the
   broker, it sends as fast as the web tier answers for `--seconds`, then the bench waits until every
   purchase is processed. `blackbox_per_s` = purchases / (first request → last one processed).

The brand's partner is bench/partner_server.py in both (the demo partner of make run serves brand_a).
Last line: `RESULT pipeline_per_s=… blackbox_per_s=… ratio=… blackbox_p50_ms=… loadavg=…`
(goal: ratio ≥ 0.5).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pipeline  # bench/pipeline.py: sets Django up for the bench brand, its queue and throttle
from _brand import free_port
from _pipeline import SCHEMA, log, prepare_brand
from _report import result
from django_tenants.utils import schema_context

ROOT = pipeline.ROOT


def wait_for(url: str, timeout: float) -> bool:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each stack is fed")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    # bench/pipeline.py's own defaults for its stack and its pacing.
    args.web_workers, args.worker_concurrency, args.max_queued = 2, 3, 5
    args.port, args.partner_port = free_port(), free_port()

    from accounts.services import api_key_create

    prepare_brand(args.partner_port)
    with schema_context(SCHEMA):
        _, api_key = api_key_create(name="make run bench", role="ingest")
        from campaigns.models import Campaign

        Campaign.objects.update(segment=None, eligibility=None)
    pipeline.reset_customers()
    wait_for_sent = pipeline.sender_exists()

    log("1/2 bench/pipeline.py's fast path on its own stack")
    try:
        pipeline.start_stack(args)
        fast = pipeline.run_fast(args, api_key, wait_for_sent)
    finally:
        pipeline.stop_children()
    pipeline.reset_purchases()
    pipeline.reset_customers()

    log("2/2 make run's stack (scripts/run_stack.sh), fed from outside")
    env = {
        **os.environ,
        "PY": sys.executable,
        "PORT": str(free_port()),
        "FAKE_PARTNER_PORT": str(free_port()),
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "true"),  # as the Makefile's run target
        "PARTNER_URL_ALLOW_PRIVATE": "true",
    }
    for command in (
        ["manage.py", "setup_periodic_tasks"],
        ["manage.py", "bootstrap_demo", "--port", env["PORT"], "--partner-port", env["FAKE_PARTNER_PORT"]],
    ):
        subprocess.run([sys.executable, *command], cwd=ROOT, env=env, check=True, capture_output=True)
    args.port = int(env["PORT"])
    args.max_queued = 10**12  # a black box: the load generator never looks at the broker
    os.environ.update({key: env[key] for key in ("PY", "PORT", "FAKE_PARTNER_PORT", "DJANGO_DEBUG")})
    try:
        pipeline.start(
            [sys.executable, "-m", "bench.partner_server", "--port", str(args.partner_port)], "partner server"
        )
        pipeline.start(["bash", "scripts/run_stack.sh"], "make run stack")
        if not wait_for(f"http://127.0.0.1:{args.port}/readyz", timeout=120):
            raise SystemExit("make run's stack did not answer /readyz within 120 s")
        time.sleep(5)  # the worker's start-up (it answers its ping after the web tier)
        blackbox = pipeline.run_fast(args, api_key, wait_for_sent)
    finally:
        pipeline.stop_children()
    pipeline.reset_purchases()
    ratio = blackbox["per_s"] / fast["per_s"] if fast["per_s"] else 0.0
    log(
        f"pipeline {fast['per_s']:.0f} purchases/s, make run's stack from outside {blackbox['per_s']:.0f}"
        f" purchases/s: {ratio:.2f} of it (p50 ingest→sent {blackbox['p50_ms']:.0f} ms)"
    )
    result(
        pipeline_per_s=f"{fast['per_s']:.0f}",
        blackbox_per_s=f"{blackbox['per_s']:.0f}",
        ratio=f"{ratio:.2f}",
        blackbox_p50_ms=f"{blackbox['p50_ms']:.0f}",
    )


if __name__ == "__main__":
    main()
