"""Thin tasks of the dispatch pipeline: they take ids and call `dispatches.services`."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache

from config.celery import tenant_task
from core import task_names
from dispatches.retractions import retractions_send, retractions_send_due
from dispatches.services import dispatch_send_batch, dispatch_send_due

logger = logging.getLogger(__name__)

# Retries due within this many seconds are also scheduled as a Celery countdown, so they do not
# wait for the next sweep. Far below the broker visibility timeout (celery #4766); the row's
# next_attempt_at stays the source of truth, and the sweep sends it if this message is lost.
SHORT_RETRY_COUNTDOWN_MAX_SECONDS = 10


def schedule_short_retries(retry_soon: list[tuple[str, float]]) -> None:
    """Send the retries due within seconds as one delayed message (the sweep covers a lost one)."""
    soon = [
        (dispatch_id, delay)
        for dispatch_id, delay in retry_soon
        if delay <= SHORT_RETRY_COUNTDOWN_MAX_SECONDS
    ]
    if not soon:
        return
    try:
        send_dispatches_task.apply_async(
            args=[[dispatch_id for dispatch_id, _ in soon]], countdown=max(delay for _, delay in soon)
        )
    except Exception:  # a hint only: the beat sweep sends due retries anyway
        logger.warning("could not schedule short retries; the sweep will send them", exc_info=True)


@tenant_task(name=task_names.SEND_DISPATCHES)
def send_dispatches_task(dispatch_ids: list[str]) -> dict[str, int]:
    """Send a batch of dispatches (enqueued by the evaluation service through the outbox)."""
    result = dispatch_send_batch(dispatch_ids=dispatch_ids)
    schedule_short_retries(result.retry_soon)
    return {"sent": result.sent, "retrying": result.retrying, "dead": result.dead, "skipped": result.skipped}


@tenant_task(name=task_names.SEND_RETRACTIONS)
def send_retractions_task(retraction_ids: list[str]) -> dict[str, int]:
    """Send `purchase.retracted` messages (enqueued by a refund through the outbox); retries: the sweep."""
    result = retractions_send(retraction_ids=retraction_ids)
    return {"sent": result.sent, "retrying": result.retrying, "dead": result.dead, "skipped": result.skipped}


# One sweep per brand at a time: beat fires every few seconds and a sweep against a slow partner
# can last up to its time budget. The cache key is tenant-prefixed (django_tenants make_key).
SWEEP_LOCK_KEY = "partners:dispatch-sweep"
SWEEP_LOCK_SECONDS = 120


@tenant_task(name=task_names.SEND_DUE_DISPATCHES)
def send_due_dispatches_task() -> dict[str, int]:
    """Per-brand beat sweep: due retries, expired leases, and pending dispatches whose message was lost."""
    token = str(uuid.uuid4())
    if not cache.add(SWEEP_LOCK_KEY, token, timeout=SWEEP_LOCK_SECONDS):
        return {"skipped": 1}
    try:
        result = dispatch_send_due()
        # Retractions of refunded purchases ride the same sweep (their retries and lost leases).
        result.merge(retractions_send_due())
    finally:
        if cache.get(SWEEP_LOCK_KEY) == token:
            cache.delete(SWEEP_LOCK_KEY)
    if result.claimed or result.dead:
        logger.info(
            "dispatch sweep",
            extra={
                "claimed": result.claimed,
                "sent": result.sent,
                "retrying": result.retrying,
                "dead": result.dead,
            },
        )
    return {"sent": result.sent, "retrying": result.retrying, "dead": result.dead, "claimed": result.claimed}
