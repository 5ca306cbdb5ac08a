"""Enqueue work durably: an outbox row in the caller's transaction, relayed to Celery after commit.

`outbox_enqueue` is what services call instead of `task.delay()`. Right after
the commit it tries to relay that message at once (the fast path); if the broker
is down, the row stays and `outbox_relay_task` (beat, every few seconds, per
brand) sends it later. Delivery is at-least-once: consumers are idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from config.celery import app
from core.celery_signals import REQUEST_ID_HEADER
from core.logging import request_id_var
from outbox import lanes
from outbox.models import OutboxMessage
from tenants.work_due import work_due_soon

logger = logging.getLogger(__name__)

RELAY_BATCH = 500
KEEP_RELAYED_FOR = timedelta(days=2)


def outbox_enqueue(*, task_name: str, args: list | None = None, kwargs: dict | None = None) -> OutboxMessage:
    """Write the message in the current transaction; relay it right after commit."""
    with transaction.atomic():
        message = OutboxMessage.objects.create(
            task_name=task_name, args=args or [], kwargs=kwargs or {}, request_id=request_id_var.get() or ""
        )
        if task_name in lanes.LANE_TASK_NAMES:
            transaction.on_commit(lanes.lane_start)
        else:
            message_id = message.pk
            transaction.on_commit(lambda: outbox_relay(ids=[message_id]))
    return message


def outbox_relay(*, ids: Iterable[int] | None = None, limit: int = RELAY_BATCH) -> int:
    """Send pending messages (all, or the given ids) to the broker; returns how many were sent.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED, so relays running at
    once (the request's fast path, the beat sweep) never send a message twice
    between them. A broker failure leaves the rest pending for the next sweep. Messages of a
    brand lane are not sent: lane tasks run them (outbox/lanes.py).
    """
    sent = 0
    left_pending = False
    try:
        with transaction.atomic():
            pending = OutboxMessage.objects.filter(relayed_at__isnull=True).exclude(
                task_name__in=lanes.LANE_TASK_NAMES
            )
            if ids is not None:
                pending = pending.filter(pk__in=list(ids))
            messages = list(pending.select_for_update(skip_locked=True).order_by("id")[:limit])
            now = timezone.now()
            for message in messages:
                try:
                    app.send_task(
                        message.task_name,
                        args=message.args,
                        kwargs=message.kwargs,
                        headers={REQUEST_ID_HEADER: message.request_id} if message.request_id else None,
                    )
                except Exception as exc:
                    OutboxMessage.objects.filter(pk=message.pk).update(
                        relay_attempts=message.relay_attempts + 1,
                        last_error=f"{type(exc).__name__}: {exc}"[:500],
                    )
                    logger.warning(
                        "outbox relay failed; %d message(s) left for the sweep",
                        len(messages) - sent,
                        extra={"outbox_id": message.pk, "error": str(exc)[:200]},
                    )
                    left_pending = True
                    break
                message.relayed_at = now
                sent += 1
            OutboxMessage.objects.bulk_update([m for m in messages if m.relayed_at], ["relayed_at"])
        if left_pending:
            work_due_soon()  # the brand's next maintenance tick relays what the broker refused
    except Exception:  # the on_commit fast path must never fail the request that already committed
        logger.exception("outbox relay crashed; messages stay pending for the sweep")
    return sent


def outbox_purge_relayed(*, older_than: timedelta = KEEP_RELAYED_FOR) -> int:
    deleted, _ = OutboxMessage.objects.filter(
        relayed_at__isnull=False, relayed_at__lt=timezone.now() - older_than
    ).delete()
    return deleted


def outbox_oldest_pending_age_seconds() -> float | None:
    oldest = (
        OutboxMessage.objects.filter(relayed_at__isnull=True)
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    return (timezone.now() - oldest).total_seconds() if oldest else None
