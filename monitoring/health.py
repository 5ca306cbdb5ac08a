"""The brand's health figures (selectors over indexed columns) and the snapshot the tick stores."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from monitoring.models import HealthSnapshot

_PARTNER_FAILURES_SQL = """
WITH recent AS (
    SELECT d.partner_id, a.attempted_at, a.number, a.outcome
    FROM partners_dispatchattempt a JOIN partners_dispatch d ON d.id = a.dispatch_id
    WHERE a.attempted_at >= %(since)s
),
last_ok AS (
    SELECT partner_id, MAX(attempted_at) AS at FROM recent WHERE outcome = 'sent' GROUP BY partner_id
)
SELECT p.slug, COUNT(*)
FROM recent r
JOIN partners_partner p ON p.id = r.partner_id
LEFT JOIN last_ok l ON l.partner_id = r.partner_id
WHERE r.outcome <> 'sent' AND (l.at IS NULL OR r.attempted_at > l.at)
GROUP BY p.slug
"""


def partner_consecutive_failures() -> dict[str, int]:
    """Failed attempts since each partner's last successful one, within ALARM_PARTNER_LOOKBACK_MINUTES.

    Partners with no failure since their last success are absent (0).
    """
    since = timezone.now() - timedelta(minutes=settings.ALARM_PARTNER_LOOKBACK_MINUTES)
    with connection.cursor() as cursor:
        cursor.execute(_PARTNER_FAILURES_SQL, {"since": since})
        return {slug: count for slug, count in cursor.fetchall()}


def dispatch_failure_rate(*, window_minutes: int) -> tuple[int, int]:
    """(attempts, failed attempts) of the last `window_minutes`; failed = retry or dead outcome."""
    from dispatches.models import DispatchAttempt

    since = timezone.now() - timedelta(minutes=window_minutes)
    totals = DispatchAttempt.objects.filter(attempted_at__gte=since).aggregate(
        attempts=Count("id"), failed=Count("id", filter=~Q(outcome=DispatchAttempt.Outcome.SENT))
    )
    return totals["attempts"], totals["failed"]


@transaction.atomic
def health_refresh() -> HealthSnapshot:
    """Recompute and store the brand's snapshot (row id 1)."""
    from dispatches.models import Dispatch
    from notifications.models import Notification
    from outbox.services import outbox_oldest_pending_age_seconds

    now = timezone.now()
    backlog_statuses = [Dispatch.Status.PENDING, Dispatch.Status.RETRYING]
    # Each figure is an index scan: dispatch_due_idx (status, …), notification_due_idx (status, …).
    backlog = Dispatch.objects.filter(status__in=backlog_statuses).aggregate(
        n=Count("id"), oldest=Min("created_at")
    )
    snapshot, _ = HealthSnapshot.objects.update_or_create(
        pk=1,
        defaults={
            "backlog": backlog["n"],
            "oldest_backlog_seconds": (now - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0.0,
            "dead_letters": Dispatch.objects.filter(status=Dispatch.Status.DEAD).count(),
            "outbox_lag_seconds": outbox_oldest_pending_age_seconds() or 0.0,
            "notifications_dead": Notification.objects.filter(status=Notification.Status.DEAD).count(),
            "partner_consecutive_failures": partner_consecutive_failures(),
            "computed_at": now,
        },
    )
    return snapshot


def current_health() -> HealthSnapshot | None:
    return HealthSnapshot.objects.filter(pk=1).first()
