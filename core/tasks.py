"""Gauges computed from the database, refreshed by beat (never a query per scrape)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from config.celery import app, tenant_task
from core import metrics


@tenant_task(name="metrics.refresh_tenant_gauges")
def refresh_tenant_gauges_task() -> None:
    from dispatches.models import Dispatch
    from outbox.services import outbox_oldest_pending_age_seconds

    schema = connection.schema_name
    backlog = Dispatch.objects.filter(status__in=[Dispatch.Status.PENDING, Dispatch.Status.RETRYING]).count()
    dead = Dispatch.objects.filter(status=Dispatch.Status.DEAD).count()
    metrics.DISPATCH_BACKLOG.labels(tenant=schema).set(backlog)
    metrics.DISPATCH_DEAD_LETTERS.labels(tenant=schema).set(dead)
    metrics.OUTBOX_LAG_SECONDS.labels(tenant=schema).set(outbox_oldest_pending_age_seconds() or 0)


@app.task(name="metrics.refresh_queue_gauges")
def refresh_queue_gauges_task() -> dict[str, int]:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with app.connection_for_read() as conn:
        length = conn.default_channel.client.llen(queue)
    metrics.CELERY_QUEUE_LENGTH.labels(queue=queue).set(length)
    return {queue: length}
