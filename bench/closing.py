#!/usr/bin/env python
"""Closing campaigns past `ends_at` across many brands: every one completed within 60 s of its end.

    .venv/bin/python bench/closing.py [--brands 500] [--lead 90] [--spread 30]

1. `create_brands --count N --prefix closing` (a copy of the template schema each; a re-run reuses
   them) and `setup_periodic_tasks` (the real beat schedule) in DATABASE_URL's database;
2. starts a Celery worker and beat as `make run` does (scripts/run_stack.sh's worker settings);
3. in every brand, through the services a CRM person's clicks call (`partner_create`,
   `campaign_create`, `campaign_activate`), one active campaign whose `ends_at` is `--lead` s from
   the start of this step, spread over `--spread` s across the brands (activation writes the
   brand's due time in the work-due index, tenants/work_due.py);
4. waits until every one is `completed` (or 120 s after the last end) and reads `completed_at`:
   lateness = completed_at − ends_at.

Nothing but beat and the worker completes them: the bench only reads. Other brands of the
database (and their ticks) are left as they are.

Last line: `RESULT brands=… closed=… within_60s=… p50_late_s=… max_late_s=… loadavg=…`
(goal: within_60s = brands).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import _brand
from _report import result

_brand.setup_django(PARTNER_URL_ALLOW_PRIVATE="true")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

ROOT = _brand.ROOT
PY = sys.executable
LOG_DIR = ROOT / ".data" / "bench-closing"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def start(name: str, command: list[str]) -> subprocess.Popen:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    output = open(LOG_DIR / f"{name}.log", "wb")
    env = {**os.environ, "DJANGO_DEBUG": "false"}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def make_campaigns(schemas: list[str], tag: str, *, lead: float, spread: float) -> dict[str, object]:
    from campaigns.services import campaign_activate, campaign_create
    from partners.models import Partner
    from partners.services import partner_create

    base = timezone.now() + timedelta(seconds=lead)
    ends = {}
    for index, schema in enumerate(schemas):
        with schema_context(schema):
            partner = Partner.objects.filter(slug="closing-bench").first()
            if partner is None:
                partner = partner_create(
                    actor="user:closing-bench",
                    slug="closing-bench",
                    name="Closing bench",
                    submission_url="http://127.0.0.1:9/submissions",
                    auth_url="http://127.0.0.1:9/participate",
                ).partner
            ends_at = base + timedelta(seconds=spread * index / max(len(schemas) - 1, 1))
            campaign = campaign_create(
                actor="user:closing-bench",
                name=f"Closing {tag}",
                kind="custom",
                starts_at=timezone.now() - timedelta(days=1),
                ends_at=ends_at,
                purchase_channels=["in_store"],
                currency="EUR",
                min_purchase_value=Decimal("0"),
                partner=partner,
                reward={"type": "voucher", "value": "5.00", "description": "5 off"},
                notification={"title": "Won", "body": "{{ award.value }}"},
            )
            campaign_activate(campaign_id=campaign.pk, actor="user:closing-bench")
            ends[schema] = ends_at
    return ends


def closed(schemas: list[str], tag: str) -> dict[str, float]:
    """schema → lateness in seconds, for the campaigns of this run already completed (one query)."""
    parts = [
        f"SELECT '{schema}', extract(epoch FROM completed_at - ends_at) FROM \"{schema}\".campaigns_campaign"
        " WHERE name = %s AND status = 'completed'"
        for schema in schemas
    ]
    late: dict[str, float] = {}
    with connection.cursor() as cursor:
        for start_at in range(0, len(parts), 100):
            chunk = parts[start_at : start_at + 100]
            cursor.execute(" UNION ALL ".join(chunk), [f"Closing {tag}"] * len(chunk))
            late.update({schema: float(seconds) for schema, seconds in cursor.fetchall()})
    return late


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--brands", type=int, default=500)
    parser.add_argument(
        "--lead", type=float, default=90.0, help="s from the campaigns' creation to the first end"
    )
    parser.add_argument("--spread", type=float, default=30.0, help="the ends spread over this many s")
    args = parser.parse_args()

    started = time.monotonic()
    call_command("create_brands", "--count", str(args.brands), "--prefix", "closing", verbosity=0)
    call_command("setup_periodic_tasks", verbosity=0)
    schemas = [f"closing_{n}" for n in range(1, args.brands + 1)]
    log(f"{args.brands} brands ready after {time.monotonic() - started:.0f} s")
    procs = [
        start(
            "worker",
            [PY, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING", "--pool=prefork",
             "--concurrency=3", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        ),
        start("beat", [PY, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING"]),
    ]  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    try:
        made = time.monotonic()
        ends = make_campaigns(schemas, tag, lead=args.lead, spread=args.spread)
        log(f"{len(ends)} active campaigns made in {time.monotonic() - made:.0f} s (run {tag})")
        if min(ends.values()) <= timezone.now():
            raise SystemExit("the campaigns took longer to make than --lead: raise it")
        deadline = max(ends.values()) + timedelta(seconds=120)
        late: dict[str, float] = {}
        while timezone.now() < deadline:
            late = closed(schemas, tag)
            if len(late) == len(schemas):
                break
            time.sleep(3)
        for name, proc in zip(("worker", "beat"), procs, strict=True):
            if proc.poll() is not None:
                raise SystemExit(f"the {name} exited: see {LOG_DIR / name}.log")
    finally:
        stop(procs)
    values = sorted(late.values())
    within = sum(1 for seconds in values if seconds <= 60)
    p50 = values[len(values) // 2] if values else float("nan")
    worst = values[-1] if values else float("nan")
    log(
        f"{len(values)} of {len(schemas)} closed; {within} within 60 s; lateness p50 {p50:.1f} s, max {worst:.1f} s"
    )
    result(
        brands=len(schemas),
        closed=len(values),
        within_60s=within,
        p50_late_s=f"{p50:.1f}",
        max_late_s=f"{worst:.1f}",
    )


if __name__ == "__main__":
    main()
