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
    # "tenant": run once per brand through tenants.for_each_tenant; "public": run once, as is.
    scope: str = "tenant"


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        name="outbox relay sweep",
        tenant_task="outbox.relay",
        every_seconds=10,
        description="Send outbox messages the commit-time fast path could not (broker was down).",
    ),
    PeriodicJob(
        name="metrics: brand gauges",
        tenant_task="metrics.refresh_tenant_gauges",
        every_seconds=30,
        description="Dispatch backlog, dead letters and outbox lag per brand, for /metrics.",
    ),
    PeriodicJob(
        name="metrics: queue gauges",
        tenant_task="metrics.refresh_queue_gauges",
        every_seconds=15,
        scope="public",
        description="Celery queue length, for /metrics.",
    ),
    PeriodicJob(
        name="notification retry sweep",
        tenant_task="notifications.retry_due",
        every_seconds=15,
        description="Re-send push notifications whose back-off has passed (waits live in next_attempt_at).",
    ),
    PeriodicJob(
        name="partner dispatch sweep",
        tenant_task="partners.send_due_dispatches",
        every_seconds=5,
        description="Send due retries, dispatches whose sender was lost, and lost first sends.",
    ),
    PeriodicJob(
        name="complete expired campaigns",
        tenant_task="campaigns.complete_expired",
        every_seconds=60,
        description="Complete active or paused campaigns whose ends_at has passed (SPEC §4).",
    ),
    PeriodicJob(
        name="purchases unevaluated sweep",
        tenant_task="purchases.sweep_unevaluated",
        every_seconds=30,
        description="Re-enqueue purchases left unevaluated for more than a minute (lost or failed messages).",
    ),
    # monitoring (issue 7, ADR 0008): one tick per brand refreshes the dashboards' rollup and health
    # snapshot and evaluates the alarm rules (cheap: a few indexed aggregates over recent hours).
    PeriodicJob(
        name="monitoring tick",
        tenant_task="monitoring.tick",
        every_seconds=60,
        description="Hourly rollups (recent hours), health snapshot, alarm rules and their notifications.",
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
