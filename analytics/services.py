"""Writes of analytics (ADR 0024): attribution, then the hourly and daily rollups, in one hourly job.

* `attribution_refresh(since)`: purchases evaluated since then, matched to every touch of their customer
  (messages, `view`/`click` events carrying `campaign_id`) within each campaign's attribution window before
  the purchase — one `INSERT … SELECT … ON CONFLICT DO NOTHING`, last touch wins, once per campaign and
  purchase. Revenue is the purchase's eligible value for the campaign (0 when not eligible).
* `rollup_refresh(since)`: every whole UTC hour from `since` recomputed from the raw rows like monitoring's
  rollup (upsert, drop what vanished), then the days those hours fall in re-summed into the daily rows.
Both are idempotent; a transaction-level advisory lock serialises concurrent runs per brand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.sources import extra_costs_sql, touches_sql

_LOCK_NAMESPACE = 0x0C_B0_0025

_ATTRIBUTION_SQL = """
WITH touches AS ({touches}),
new_purchases AS (
    SELECT id, customer_id, purchased_at FROM purchases_purchase WHERE evaluated_at >= %(since)s
),
matched AS (
    SELECT DISTINCT ON (c.id, p.id)
           c.id AS campaign_id, p.id AS purchase_id, p.customer_id, t.variant, p.purchased_at,
           t.touched_at, t.kind
    FROM new_purchases p
    JOIN touches t ON t.customer_id = p.customer_id AND t.touched_at <= p.purchased_at
    JOIN campaigns_campaign c ON c.id::text = t.campaign_key
         AND t.touched_at >= p.purchased_at - c.attribution_window_hours * interval '1 hour'
    ORDER BY c.id, p.id, t.touched_at DESC
),
inserted AS (
    INSERT INTO analytics_conversion
        (campaign_id, purchase_id, customer_id, variant, purchased_at, touched_at, touch_kind, revenue, created_at)
    SELECT m.campaign_id, m.purchase_id, m.customer_id, m.variant, m.purchased_at, m.touched_at, m.kind,
           COALESCE(e.eligible_value, 0), %(now)s
    FROM matched m
    LEFT JOIN purchases_evaluation e ON e.purchase_id = m.purchase_id AND e.campaign_id = m.campaign_id
         AND e.eligible
    ON CONFLICT (campaign_id, purchase_id) DO NOTHING
    RETURNING purchased_at
)
SELECT COUNT(*), MIN(purchased_at) FROM inserted
"""

# The reward value of a campaign, as money (0 when it is not a plain decimal).
_REWARD_VALUE = (
    "CASE WHEN c.reward->>'value' ~ '^[0-9]+(\\.[0-9]+)?$' THEN (c.reward->>'value')::numeric ELSE 0 END"
)

_ROLLUP_SQL = """
WITH touches AS ({touches}),
parts AS (
    SELECT c.id AS campaign_id, t.variant, date_trunc('hour', t.touched_at) AS hour,
           COUNT(*) FILTER (WHERE t.kind IN ('view', 'message')) AS impressions,
           COUNT(*) FILTER (WHERE t.kind = 'click') AS clicks,
           0 AS conversions, 0::numeric AS revenue, 0::numeric AS cost
    FROM touches t JOIN campaigns_campaign c ON c.id::text = t.campaign_key
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT campaign_id, variant, date_trunc('hour', purchased_at), 0, 0, COUNT(*), SUM(revenue), 0
    FROM analytics_conversion WHERE purchased_at >= %(since)s
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT d.campaign_id, COALESCE(v.variant, ''), date_trunc('hour', d.sent_at), 0, 0, 0, 0,
           SUM({reward_value})
    FROM partners_dispatch d
    JOIN campaigns_campaign c ON c.id = d.campaign_id
    LEFT JOIN analytics_conversion v ON v.campaign_id = d.campaign_id AND v.purchase_id = d.purchase_id
    WHERE d.status = 'sent' AND d.sent_at >= %(since)s
    GROUP BY 1, 2, 3
    {extra_costs}
),
fresh AS (
    SELECT campaign_id, variant, hour, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
           SUM(conversions) AS conversions, SUM(revenue) AS revenue, SUM(cost) AS cost
    FROM parts GROUP BY 1, 2, 3
),
upserted AS (
    INSERT INTO analytics_campaignhourlyfigures AS r
        (campaign_id, variant, hour, impressions, clicks, conversions, revenue, cost, computed_at)
    SELECT campaign_id, variant, hour, impressions, clicks, conversions, revenue, cost, %(now)s FROM fresh
    ON CONFLICT (campaign_id, hour, variant) DO UPDATE SET
        impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks, conversions = EXCLUDED.conversions,
        revenue = EXCLUDED.revenue, cost = EXCLUDED.cost, computed_at = EXCLUDED.computed_at
    RETURNING 1
),
stale AS (
    DELETE FROM analytics_campaignhourlyfigures r
    WHERE r.hour >= %(since)s AND NOT EXISTS (
        SELECT 1 FROM fresh f WHERE f.campaign_id = r.campaign_id AND f.hour = r.hour AND f.variant = r.variant
    )
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM upserted), (SELECT COUNT(*) FROM stale)
"""

_DAILY_DELETE_SQL = "DELETE FROM analytics_campaigndailyfigures WHERE day >= %(day)s"
_DAILY_SQL = """
INSERT INTO analytics_campaigndailyfigures
    (campaign_id, variant, day, impressions, clicks, conversions, revenue, cost)
SELECT campaign_id, variant, (hour AT TIME ZONE 'UTC')::date, SUM(impressions), SUM(clicks), SUM(conversions),
       SUM(revenue), SUM(cost)
FROM analytics_campaignhourlyfigures WHERE hour >= %(day_start)s
GROUP BY 1, 2, 3
"""


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class AnalyticsRefresh:
    conversions: int
    hourly_rows: int
    hourly_deleted: int
    daily_rows: int


def _lock(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [_LOCK_NAMESPACE])


@transaction.atomic
def attribution_refresh(*, since: datetime, now: datetime | None = None) -> tuple[int, datetime | None]:
    """Attribute the purchases evaluated since `since`. Returns (conversions added, earliest purchase)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        _lock(cursor)
        cursor.execute(
            "SELECT MIN(purchased_at), (SELECT MAX(attribution_window_hours) FROM campaigns_campaign)"
            " FROM purchases_purchase WHERE evaluated_at >= %s",
            [since],
        )
        earliest, widest = cursor.fetchone()
        if earliest is None or widest is None:
            return 0, None
        touch_since = earliest - timedelta(hours=widest)
        cursor.execute(
            _ATTRIBUTION_SQL.format(touches=touches_sql()),
            {"since": since, "now": now, "touch_since": touch_since},
        )
        added, first = cursor.fetchone()
    return added, first


@transaction.atomic
def rollup_refresh(*, since: datetime, now: datetime | None = None) -> tuple[int, int, int]:
    """Recompute the hourly figures from the hour of `since` on, then their days. (upserted, deleted, daily)."""
    now = now or timezone.now()
    since = hour_floor(since)
    day_start = since.replace(hour=0)
    extra = "".join(f" UNION ALL ({part})" for part in extra_costs_sql())
    with connection.cursor() as cursor:
        _lock(cursor)
        cursor.execute(
            _ROLLUP_SQL.format(touches=touches_sql(), reward_value=_REWARD_VALUE, extra_costs=extra),
            {"since": since, "now": now, "touch_since": since},
        )
        upserted, deleted = cursor.fetchone()
        cursor.execute(_DAILY_DELETE_SQL, {"day": day_start.date()})
        cursor.execute(_DAILY_SQL, {"day": day_start.date(), "day_start": day_start})
        daily = cursor.rowcount
    return upserted, deleted, daily


def analytics_refresh(*, since: datetime | None = None, now: datetime | None = None) -> AnalyticsRefresh:
    """The hourly job: attribution of new purchases, then the rollups of the hours they and the window touch."""
    now = now or timezone.now()
    since = since or now - timedelta(hours=settings.ANALYTICS_REFRESH_HOURS)
    added, earliest = attribution_refresh(since=since, now=now)
    rollup_since = min(since, earliest) if earliest else since
    upserted, deleted, daily = rollup_refresh(since=rollup_since, now=now)
    return AnalyticsRefresh(conversions=added, hourly_rows=upserted, hourly_deleted=deleted, daily_rows=daily)
