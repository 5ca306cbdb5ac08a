"""The hourly rollup (services): recompute recent hours from the raw rows, upsert, drop what vanished.

`rollup_refresh(since=…)` is idempotent: it recomputes every whole UTC hour from `since` (rounded
down) to now with one statement per call — aggregate the raw rows of the window (time-indexed,
monitoring/migrations/0002), upsert them with ON CONFLICT, and delete the window's rows the raw
data no longer supports. Running it twice, or from two processes at once (a transaction-level
advisory lock serialises them), gives the same rows. Older hours are left alone, so archived
campaigns keep their history after the archive purges the raw rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

# One lock id per purpose; the lock is per transaction and per database, and the schema is in the key.
_ROLLUP_LOCK_NAMESPACE = 0x0C_B0_0008

_REFRESH_SQL = """
WITH fresh AS (
    SELECT campaign_id, hour,
           SUM(evaluated) AS evaluated, SUM(eligible) AS eligible, SUM(eligible_value) AS eligible_value,
           SUM(dispatch_sent) AS dispatch_sent, SUM(dispatch_retry) AS dispatch_retry,
           SUM(dispatch_dead) AS dispatch_dead, SUM(awards) AS awards,
           SUM(notifications_sent) AS notifications_sent, SUM(notifications_failed) AS notifications_failed
    FROM (
        SELECT campaign_id, date_trunc('hour', evaluated_at) AS hour,
               COUNT(*) AS evaluated, COUNT(*) FILTER (WHERE eligible) AS eligible,
               COALESCE(SUM(eligible_value) FILTER (WHERE eligible), 0) AS eligible_value,
               0 AS dispatch_sent, 0 AS dispatch_retry, 0 AS dispatch_dead, 0 AS awards,
               0 AS notifications_sent, 0 AS notifications_failed
        FROM purchases_evaluation WHERE evaluated_at >= %(since)s
        GROUP BY 1, 2
        UNION ALL
        SELECT d.campaign_id, date_trunc('hour', a.attempted_at),
               0, 0, 0,
               COUNT(*) FILTER (WHERE a.outcome = 'sent'), COUNT(*) FILTER (WHERE a.outcome = 'retry'),
               COUNT(*) FILTER (WHERE a.outcome = 'dead'), 0, 0, 0
        FROM partners_dispatchattempt a JOIN partners_dispatch d ON d.id = a.dispatch_id
        WHERE a.attempted_at >= %(since)s
        GROUP BY 1, 2
        UNION ALL
        SELECT campaign_id, date_trunc('hour', received_at), 0, 0, 0, 0, 0, 0, COUNT(*), 0, 0
        FROM partners_award WHERE received_at >= %(since)s
        GROUP BY 1, 2
        UNION ALL
        SELECT campaign_id, date_trunc('hour', sent_at), 0, 0, 0, 0, 0, 0, 0, COUNT(*), 0
        FROM notifications_notification WHERE sent_at IS NOT NULL AND sent_at >= %(since)s
        GROUP BY 1, 2
        UNION ALL
        SELECT campaign_id, date_trunc('hour', updated_at), 0, 0, 0, 0, 0, 0, 0, 0, COUNT(*)
        FROM notifications_notification
        WHERE status IN ('failed', 'dead') AND updated_at >= %(since)s
        GROUP BY 1, 2
    ) AS parts
    GROUP BY campaign_id, hour
),
upserted AS (
    INSERT INTO monitoring_campaignhourlyrollup AS r (
        campaign_id, hour, evaluated, eligible, eligible_value, dispatch_sent, dispatch_retry,
        dispatch_dead, awards, notifications_sent, notifications_failed, computed_at
    )
    SELECT campaign_id, hour, evaluated, eligible, eligible_value, dispatch_sent, dispatch_retry,
           dispatch_dead, awards, notifications_sent, notifications_failed, %(now)s
    FROM fresh
    ON CONFLICT (campaign_id, hour) DO UPDATE SET
        evaluated = EXCLUDED.evaluated, eligible = EXCLUDED.eligible,
        eligible_value = EXCLUDED.eligible_value, dispatch_sent = EXCLUDED.dispatch_sent,
        dispatch_retry = EXCLUDED.dispatch_retry, dispatch_dead = EXCLUDED.dispatch_dead,
        awards = EXCLUDED.awards, notifications_sent = EXCLUDED.notifications_sent,
        notifications_failed = EXCLUDED.notifications_failed, computed_at = EXCLUDED.computed_at
    RETURNING 1
),
stale AS (
    DELETE FROM monitoring_campaignhourlyrollup r
    WHERE r.hour >= %(since)s
      AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.campaign_id = r.campaign_id AND f.hour = r.hour)
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM upserted), (SELECT COUNT(*) FROM stale)
"""


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@transaction.atomic
def rollup_refresh(*, since: datetime | None = None, now: datetime | None = None) -> tuple[int, int]:
    """Recompute the brand's rollup rows from the hour of `since` on. Returns (rows upserted, rows deleted).

    Default window: the current hour and the `MONITORING_ROLLUP_HOURS` before it — late rows of an hour
    (a slow batch, a retry) are folded in on the next ticks.
    """
    now = now or timezone.now()
    if since is None:
        since = now - timedelta(hours=settings.MONITORING_ROLLUP_HOURS)
    since = hour_floor(since)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [_ROLLUP_LOCK_NAMESPACE]
        )
        cursor.execute(_REFRESH_SQL, {"since": since, "now": now})
        upserted, deleted = cursor.fetchone()
    return upserted, deleted
