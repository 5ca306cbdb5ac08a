"""The public "work due" index (`BrandWorkDue`): which brands' maintenance ticks to run, read in one query.

Idle cost must not grow with brands (issue 15): beat's dispatcher claims the brands whose `due_at`
has passed and sends a tick to those only. Due times are written

* by the services that create due work: `work_due_at(at=…)` — a campaign that becomes active or
  paused is due at its `ends_at` (closing within a minute), an outbox message the broker refused
  is due at the next tick, a new brand is due at once;
* after every tenant task (Celery `task_postrun`): a brand with activity ticks soon, and its tick
  then records when its remaining work is next due (`work_due_set`), or that it is asleep.

A brand whose tick was lost (worker killed) is claimed again after `WORK_DUE_CLAIM_SECONDS`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from tenants.models import BrandWorkDue

_TABLE = BrandWorkDue._meta.db_table
# Process-local: (due_at, monotonic time) last written per brand, so a burst of tasks writes once.
_recently_marked: dict[str, tuple[datetime, float]] = {}


def _brand_schema(schema_name: str | None) -> str:
    schema = schema_name or connection.schema_name
    if schema == get_public_schema_name():
        raise ValueError("work due belongs to a brand; call it inside a brand's schema")
    return schema


def work_due_at(*, at: datetime, schema_name: str | None = None, activity: bool = False) -> None:
    """The brand (the current schema by default) has work due at `at`: its tick runs by then."""
    schema = _brand_schema(schema_name)
    previous = _recently_marked.get(schema)
    window = settings.MAINTENANCE_TICK_SECONDS / 2
    if previous and previous[0] <= at and time.monotonic() - previous[1] < window:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO public.{_TABLE} AS due (schema_name, due_at, last_activity_at)
            VALUES (%(schema)s, %(at)s, CASE WHEN %(activity)s THEN now() END)
            ON CONFLICT (schema_name) DO UPDATE SET
                due_at = LEAST(COALESCE(due.due_at, EXCLUDED.due_at), EXCLUDED.due_at),
                last_activity_at = COALESCE(EXCLUDED.last_activity_at, due.last_activity_at)
            """,  # noqa: S608 - the table name is the model's
            {"schema": schema, "at": at, "activity": activity},
        )
    _recently_marked[schema] = (at, time.monotonic())


def work_due_soon(*, schema_name: str | None = None, activity: bool = False) -> None:
    """Work for the brand's next tick (a task ran, a message waits for the relay)."""
    work_due_at(
        at=timezone.now() + timedelta(seconds=settings.MAINTENANCE_TICK_SECONDS),
        schema_name=schema_name,
        activity=activity,
    )


def work_due_claim(*, now: datetime | None = None, limit: int = 1000) -> list[str]:
    """The brands due now, claimed: their due time moves to a lease, which their tick replaces."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.WORK_DUE_CLAIM_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH picked AS MATERIALIZED (
                SELECT id FROM public.{_TABLE} WHERE due_at <= %(now)s
                ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            )  -- a CTE, so the LIMIT holds (a re-run subquery would skip its own locks and take more)
            UPDATE public.{_TABLE} w SET due_at = %(lease)s FROM picked WHERE w.id = picked.id
            RETURNING w.schema_name
            """,  # noqa: S608 - the table name is the model's
            {"now": now, "lease": lease, "limit": limit},
        )
        return sorted(schema for (schema,) in cursor.fetchall())


def work_due_set(*, at: datetime | None, schema_name: str | None = None) -> None:
    """The tick's verdict: the brand's next work is due at `at` (None: asleep until something happens).

    A due time written meanwhile by a service (earlier than the lease the dispatcher set) wins.
    """
    schema = _brand_schema(schema_name)
    _recently_marked.pop(schema, None)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO public.{_TABLE} AS due (schema_name, due_at) VALUES (%(schema)s, %(at)s)
            ON CONFLICT (schema_name) DO UPDATE SET due_at = CASE
                WHEN due.due_at IS NOT NULL AND due.due_at < %(claimed_until)s
                THEN LEAST(due.due_at, COALESCE(EXCLUDED.due_at, due.due_at))
                ELSE EXCLUDED.due_at END
            """,  # noqa: S608 - the table name is the model's
            {"schema": schema, "at": at, "claimed_until": _claim_floor()},
        )


def _claim_floor() -> datetime:
    # A due time earlier than a fresh lease was written after the claim (by a service or a task).
    return timezone.now() + timedelta(
        seconds=settings.WORK_DUE_CLAIM_SECONDS - settings.MAINTENANCE_TICK_SECONDS
    )


def last_activity_at(schema_name: str | None = None) -> datetime | None:
    schema = _brand_schema(schema_name)
    return BrandWorkDue.objects.filter(schema_name=schema).values_list("last_activity_at", flat=True).first()


def on_tenant_task_run(sender=None, task=None, **kwargs) -> None:
    """Celery `task_postrun`: a tenant task ran, so the brand has activity; its tick runs soon."""
    from core import task_names

    if task is None or task.name == task_names.MAINTENANCE_TICK:
        return
    if connection.schema_name == get_public_schema_name():
        return
    try:
        work_due_soon(activity=True)
    except Exception:  # never fail a task over its bookkeeping; the tick's own verdict still stands
        import logging

        logging.getLogger(__name__).exception("could not record the brand's work due")
