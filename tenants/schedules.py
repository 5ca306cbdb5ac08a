"""The periodic jobs of the platform, as data: `setup_periodic_tasks` writes them to django-celery-beat.

Each job is a per-brand task run through the public dispatcher
`tenants.for_each_tenant`, so it executes inside every brand's schema.
Operators can then see and edit them in the platform admin (Periodic tasks).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    tenant_task: str
    every_seconds: int | None = None
    crontab: str | None = None  # "minute hour day_of_month month_of_year day_of_week"
    description: str = ""


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        name="outbox relay sweep",
        tenant_task="outbox.relay",
        every_seconds=10,
        description="Send outbox messages the commit-time fast path could not (broker was down).",
    ),
    PeriodicJob(
        name="purchases unevaluated sweep",
        tenant_task="purchases.sweep_unevaluated",
        every_seconds=30,
        description="Re-enqueue purchases left unevaluated for more than a minute (lost or failed messages).",
    ),
)
