"""The periodic jobs of the platform, as data: `setup_periodic_tasks` writes them to django-celery-beat.

Each job is a per-brand task run through the public dispatcher
`tenants.for_each_tenant`, so it executes inside every brand's schema.
Operators can then see and edit them in the platform admin (Periodic tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from core import task_names


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    tenant_task: str
    every_seconds: int | None = None
    crontab: str | None = None  # "minute hour day_of_month month_of_year day_of_week"
    description: str = ""
    # "tenant": run once per brand through tenants.for_each_tenant; "public": run once, as is.
    scope: str = "tenant"
    # Run by the per-brand maintenance tick at this job's cadence instead of as its own beat entry
    # (idle cost: one message per brand per tick instead of one per job; ADR 0008).
    in_tick: bool = False


# The per-brand maintenance tick's period: the finest cadence of the jobs it runs (ADR 0008).
MAINTENANCE_TICK_SECONDS: int = settings.MAINTENANCE_TICK_SECONDS

PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        name="outbox relay sweep",
        tenant_task=task_names.RELAY_OUTBOX,
        every_seconds=10,
        description="Send outbox messages the commit-time fast path could not (broker was down).",
        in_tick=True,
    ),
    PeriodicJob(
        name="metrics: brand gauges",
        tenant_task=task_names.REFRESH_TENANT_GAUGES,
        every_seconds=30,
        description="Dispatch backlog, dead letters and outbox lag per brand, for /metrics.",
        in_tick=True,
    ),
    PeriodicJob(
        name="metrics: queue gauges",
        tenant_task=task_names.REFRESH_QUEUE_GAUGES,
        every_seconds=15,
        scope="public",
        description="Celery queue length, for /metrics.",
    ),
    PeriodicJob(
        name="notification retry sweep",
        tenant_task=task_names.RETRY_DUE_NOTIFICATIONS,
        every_seconds=15,
        description="Re-send push notifications whose back-off has passed (waits live in next_attempt_at).",
        in_tick=True,
    ),
    PeriodicJob(
        name="partner dispatch sweep",
        tenant_task=task_names.SEND_DUE_DISPATCHES,
        every_seconds=10,  # was 5; the maintenance tick's period (retries are due ≥ 1 s apart anyway)
        description="Send due retries, dispatches whose sender was lost, and lost first sends.",
        in_tick=True,
    ),
    PeriodicJob(
        name="webhook delivery sweep",
        tenant_task=task_names.SEND_DUE_WEBHOOK_DELIVERIES,
        every_seconds=10,
        description="Fan out events whose message was lost, send due webhook retries and lost leases, "
        "disable endpoints failing for 5 days (SPEC §15).",
        in_tick=True,
    ),
    PeriodicJob(
        name="complete expired campaigns",
        tenant_task=task_names.COMPLETE_EXPIRED_CAMPAIGNS,
        every_seconds=60,
        description="Complete active or paused campaigns whose ends_at has passed (SPEC §4).",
        in_tick=True,
    ),
    PeriodicJob(
        name="purchases unevaluated sweep",
        tenant_task=task_names.SWEEP_UNEVALUATED_PURCHASES,
        every_seconds=30,
        description="Re-enqueue purchases left unevaluated for more than a minute (lost or failed messages).",
        in_tick=True,
    ),
    PeriodicJob(
        name="promo code reservations expiry",
        tenant_task=task_names.EXPIRE_RESERVATIONS,
        every_seconds=10,
        description="Release promo code reservations past their expiry (SPEC §12); a brand is due when one expires.",
        in_tick=True,
    ),
    PeriodicJob(
        name="journeys: entries and due steps",
        tenant_task=task_names.RUN_DUE_JOURNEYS,
        every_seconds=10,
        description="Enrol the members of dynamic entry segments on their cadence, then advance the due "
        "enrollments of active journeys in batches (SPEC §19); a brand is due when an enrollment is.",
        in_tick=True,
    ),
    # ADR 0008: the one beat entry of the jobs marked in_tick (idle cost).
    # Issue 15: sent only to the brands the public work-due index says are due (tenants/work_due.py),
    # so an idle brand costs nothing; the tick records when its brand is next due.
    PeriodicJob(
        name="maintenance tick",
        tenant_task=task_names.MAINTENANCE_DISPATCH,
        every_seconds=MAINTENANCE_TICK_SECONDS,
        scope="public",
        description="For each brand with work due (one query of the work-due index): a maintenance tick, "
        "which runs the jobs marked in_tick, each at its own cadence (monitoring/maintenance.py).",
    ),
    # monitoring: rollups, health snapshot, alarm rules (a few indexed aggregates).
    PeriodicJob(
        name="monitoring tick",
        tenant_task=task_names.MONITORING_TICK,
        every_seconds=60,
        description="Hourly rollups (recent hours), health snapshot, alarm rules and their notifications.",
        in_tick=True,
    ),
    # customers: the 90-day figures decay and the RFM quintiles are relative: recomputed nightly.
    PeriodicJob(
        name="customer stats: 90 days and RFM",
        tenant_task=task_names.REFRESH_CUSTOMER_STATS,
        crontab="30 3 * * *",
        description="Recompute each customer's 90-day orders and spend from the purchases, then the RFM "
        "quintiles with NTILE(5) (SPEC §11).",
    ),
    # analytics (ADR 0024): attribution, exposures of experiments, campaign rollups — recent hours, hourly.
    PeriodicJob(
        name="analytics refresh",
        tenant_task=task_names.ANALYTICS_REFRESH,
        crontab="7 * * * *",
        description="Attribute the purchases of the last hours to campaigns, record experiment exposures, "
        "clicks and conversions, recompute the hourly and daily campaign figures (SPEC §16).",
    ),
    PeriodicJob(
        name="experiments refresh",
        tenant_task=task_names.EXPERIMENTS_REFRESH,
        crontab="9 * * * *",
        description="Record the exposures, first clicks and first conversions of running experiments and add "
        "them to the variant totals the results read (SPEC §16).",
    ),
    # archive: completed campaigns older than ARCHIVE_AFTER_DAYS, then purchases past retention.
    PeriodicJob(
        name="archive completed campaigns",
        tenant_task=task_names.RUN_DUE_ARCHIVES,
        crontab=settings.ARCHIVE_CRONTAB,
        description="Export to Parquet, verify, purge and mark archived the campaigns completed more than "
        "ARCHIVE_AFTER_DAYS ago; then archive purchases past PURCHASE_RETENTION_DAYS.",
    ),
)


def tick_jobs() -> tuple[PeriodicJob, ...]:
    """The jobs the maintenance tick runs, in order (the partner dispatch sweep, which may send, last)."""
    jobs = [job for job in PERIODIC_JOBS if job.in_tick]
    return tuple(sorted(jobs, key=lambda job: job.tenant_task == task_names.SEND_DUE_DISPATCHES))
