"""Thin per-brand tasks of operations: the dashboards' and alarms' maintenance tick, the Prometheus gauges."""

from __future__ import annotations

import logging

from django.db import connection

from config.celery import tenant_task
from core import metrics, task_names
from dispatches.models import Dispatch
from outbox.services import outbox_oldest_pending_age_seconds

logger = logging.getLogger(__name__)


@tenant_task(name=task_names.MONITORING_TICK)
def monitoring_tick_task() -> dict:
    """Refresh the brand's hourly rollup and health snapshot, evaluate the alarm rules, notify."""
    from monitoring.alarms.services import alarm_notify_pending, alarms_evaluate
    from monitoring.health import health_refresh
    from monitoring.rollups import rollup_refresh
    from tenants.models import Brand

    upserted, deleted = rollup_refresh()
    snapshot = health_refresh()
    brand = Brand.objects.get(schema_name=connection.schema_name)
    changed = alarms_evaluate(brand=brand, snapshot=snapshot)
    delivered = alarm_notify_pending(brand=brand)
    return {
        "rollup_rows": upserted,
        "rollup_deleted": deleted,
        "alarms_changed": len(changed),
        "notified": delivered,
    }


# Registered with the worker through this module (Celery autodiscovers `<app>.tasks`).
from monitoring.maintenance import maintenance_tick_task  # noqa: E402, F401


@tenant_task(name=task_names.REFRESH_TENANT_GAUGES)
def refresh_tenant_gauges_task() -> None:
    schema = connection.schema_name
    backlog = Dispatch.objects.filter(status__in=[Dispatch.Status.PENDING, Dispatch.Status.RETRYING]).count()
    dead = Dispatch.objects.filter(status=Dispatch.Status.DEAD).count()
    metrics.DISPATCH_BACKLOG.labels(tenant=schema).set(backlog)
    metrics.DISPATCH_DEAD_LETTERS.labels(tenant=schema).set(dead)
    metrics.OUTBOX_LAG_SECONDS.labels(tenant=schema).set(outbox_oldest_pending_age_seconds() or 0)
