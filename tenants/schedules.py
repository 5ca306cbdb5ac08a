"""The periodic jobs of the platform, as data: `setup_periodic_tasks` writes them to django-celery-beat.

Each job is a per-brand task run through the public dispatcher
`tenants.for_each_tenant`, so it executes inside every brand's schema.
Operators can then see and edit them in the platform admin (Periodic tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


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
    # archive (issue 6): completed campaigns older than ARCHIVE_AFTER_DAYS, then purchases past retention.
    PeriodicJob(
        name="archive completed campaigns",
        tenant_task="archive.run_due",
        crontab=settings.ARCHIVE_CRONTAB,
        description="Export to Parquet, verify, purge and mark archived the campaigns completed more than "
        "ARCHIVE_AFTER_DAYS ago; then archive purchases past PURCHASE_RETENTION_DAYS.",
    ),
)
