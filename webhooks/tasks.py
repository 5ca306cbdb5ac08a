"""Thin tasks of outgoing webhooks: they call `webhooks.services`."""

from __future__ import annotations

import uuid

from django.core.cache import cache

from config.celery import tenant_task
from core import task_names
from webhooks.services import webhook_deliveries_send, webhook_fan_out_and_send, webhook_sweep

SWEEP_LOCK_KEY = "webhooks:sweep"
SWEEP_LOCK_SECONDS = 120


def _tally(result) -> dict[str, int]:
    return {"claimed": result.claimed, "sent": result.sent, "retrying": result.retrying, "dead": result.dead}


@tenant_task(name=task_names.FAN_OUT_WEBHOOK_EVENTS)
def fan_out_events_task() -> dict[str, int]:
    """Sent after the commit of a transaction that emitted events: deliveries, sent at once."""
    return _tally(webhook_fan_out_and_send())


@tenant_task(name=task_names.SEND_WEBHOOK_DELIVERIES)
def send_deliveries_task(delivery_ids: list[str]) -> dict[str, int]:
    """Send the given deliveries (a replay)."""
    return _tally(webhook_deliveries_send(delivery_ids=delivery_ids))


@tenant_task(name=task_names.SEND_DUE_WEBHOOK_DELIVERIES)
def send_due_deliveries_task() -> dict[str, int]:
    """The maintenance tick's sweep, one per brand at a time (tenant-prefixed cache lock)."""
    token = str(uuid.uuid4())
    if not cache.add(SWEEP_LOCK_KEY, token, timeout=SWEEP_LOCK_SECONDS):
        return {"skipped": 1}
    try:
        return _tally(webhook_sweep())
    finally:
        if cache.get(SWEEP_LOCK_KEY) == token:
            cache.delete(SWEEP_LOCK_KEY)
