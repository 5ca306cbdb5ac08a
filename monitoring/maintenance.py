"""The per-brand maintenance tick: one message per brand every MAINTENANCE_TICK_SECONDS runs the
periodic jobs marked `in_tick` in tenants/schedules.py, each at its own cadence.

Why (ADR 0008, idle cost): with one beat entry per job, an idle platform sent ~45 messages a minute
per brand (dispatcher + per-brand task each time) and spent > 1 % of a core doing nothing. The tick
sends one per brand per period and runs the jobs in-process. Each job keeps its declared cadence:
a cache key per brand and job (`cache.add` with a TTL just under the cadence; keys are prefixed by
the brand's schema) lets it run at most once per period. A job that fails is logged and does not
stop the others; the partner dispatch sweep, which may send HTTP requests, runs last.

Which brands tick (issue 15, idle cost that does not grow with brands): only those the public
work-due index says are due (tenants/work_due.py). Each tick ends by recording when its brand is
next due: at the next tick while work is live (outbox, unevaluated purchases, dispatches and
notifications not settled), every minute for a while after activity (dashboards, alarms), else at
the next `ends_at` of an active or paused campaign — or not before the idle backstop.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Min
from django.utils import timezone

from config.celery import app, tenant_task
from core import task_names
from tenants.schedules import MAINTENANCE_TICK_SECONDS, tick_jobs
from tenants.work_due import last_activity_at, work_due_set

logger = logging.getLogger(__name__)


def _due(task_name: str, every_seconds: int) -> bool:
    # TTL half a tick short of the cadence, so a 10 s job runs on every 10 s tick despite jitter.
    ttl = max(1, every_seconds - MAINTENANCE_TICK_SECONDS // 2)
    return cache.add(f"maintenance:last:{task_name}", 1, timeout=ttl)


def _task(name: str):
    if name not in app.tasks:
        # The worker autodiscovered every app's tasks at start; elsewhere (a shell, tests) import them
        # now. Not on every tick: it costs ~10 ms of CPU even when everything is imported.
        app.loader.import_default_modules()
    return app.tasks[name]


@tenant_task(name=task_names.MAINTENANCE_TICK)
def maintenance_tick_task() -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for job in tick_jobs():
        if not _due(job.tenant_task, job.every_seconds or MAINTENANCE_TICK_SECONDS):
            continue
        try:
            _task(job.tenant_task)()  # in-process, in this brand's schema
            outcomes[job.tenant_task] = "ok"
        except Exception:
            logger.exception("maintenance job failed", extra={"job": job.tenant_task})
            outcomes[job.tenant_task] = "failed"
    try:
        work_due_set(at=next_work_due_at(timezone.now()))
    except Exception:  # the claim's lease brings the brand back if this is lost
        logger.exception("could not record the brand's next work due")
    return outcomes


def next_work_due_at(now: datetime) -> datetime:
    """When this brand's maintenance tick must next run (a few indexed queries of its own schema)."""
    from campaigns.models import Campaign
    from dispatches.models import Dispatch, Retraction
    from journeys.services_tick import next_journey_work_at
    from notifications.models import CampaignMessage, Message, Notification
    from outbox.models import DomainEvent, OutboxMessage
    from promotions.services import next_reservation_expiry
    from purchases.models import Purchase
    from webhooks.models import WebhookDelivery

    next_tick = now + timedelta(seconds=MAINTENANCE_TICK_SECONDS)
    if (
        OutboxMessage.objects.filter(relayed_at__isnull=True).exists()
        or Purchase.objects.filter(evaluated_at__isnull=True).exists()
        or DomainEvent.objects.filter(fanned_out_at__isnull=True).exists()
    ):
        return next_tick
    candidates = [now + timedelta(seconds=settings.WORK_DUE_IDLE_RECHECK_SECONDS)]
    for model, statuses in (
        (Dispatch, [Dispatch.Status.PENDING, Dispatch.Status.RETRYING]),
        (Retraction, [Retraction.Status.PENDING, Retraction.Status.RETRYING]),  # sent by the dispatch sweep
        (Notification, ["queued", "sending", "failed", "deferred"]),
        (WebhookDelivery, ["queued", "sending", "failed"]),
        (Message, ["queued", "sending", "failed", "deferred"]),  # SPEC §14: deferred until their window
    ):
        unsettled = model.objects.filter(status__in=statuses)
        if unsettled.filter(next_attempt_at__isnull=True).exists():
            return next_tick
        next_attempt = unsettled.aggregate(at=Min("next_attempt_at"))["at"]
        if next_attempt is not None:
            candidates.append(next_attempt)
    broadcast_at = CampaignMessage.objects.filter(state__in=["scheduled", "sending"]).aggregate(
        at=Min("next_batch_at")
    )["at"]
    if broadcast_at is not None:
        candidates.append(broadcast_at)
    journey_work = next_journey_work_at()
    if journey_work is not None:
        candidates.append(journey_work)
    reservation_expiry = next_reservation_expiry()
    if reservation_expiry is not None:
        candidates.append(reservation_expiry)
    ends_at = Campaign.objects.filter(status__in=["active", "paused"]).aggregate(at=Min("ends_at"))["at"]
    if ends_at is not None:
        candidates.append(ends_at)
    activity = last_activity_at()
    if activity is not None and now - activity < timedelta(seconds=settings.WORK_DUE_SETTLE_SECONDS):
        candidates.append(now + timedelta(seconds=60))
    return max(min(candidates), next_tick)
