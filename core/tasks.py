"""The broker queue gauge, refreshed by beat (never a query per scrape; per-brand gauges: monitoring/tasks.py)."""

from __future__ import annotations

from django.conf import settings

from config.celery import app
from core import metrics, task_names


@app.task(name=task_names.REFRESH_QUEUE_GAUGES)
def refresh_queue_gauges_task() -> dict[str, int]:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with app.connection_for_read() as conn:
        length = conn.default_channel.client.llen(queue)
    metrics.CELERY_QUEUE_LENGTH.labels(queue=queue).set(length)
    return {queue: length}
