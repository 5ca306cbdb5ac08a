"""Where the analytics read the touches and costs that other apps own: one function per source.

Each returns a SQL `SELECT` (or None while its app is not part of the platform yet) with fixed
columns, so the attribution, the rollup and the exposures are set-based statements with one branch per
source — never a query per purchase (ADR 0024 says what each must return).
"""

from __future__ import annotations


def view_click_touches_sql() -> str:
    """`view`/`click` events carrying `campaign_id` (SPEC §11): campaign_key (text), customer_id, touched_at,
    kind ('view'|'click'), variant (the `variant` property the app got from assign, else '').

    Bound parameter: %(touch_since)s — the earliest touch needed.
    """
    return """
        SELECT e.properties->>'campaign_id' AS campaign_key, cu.customer_id AS customer_id,
               e.occurred_at AS touched_at, e.name AS kind,
               COALESCE(e.properties->>'variant', '') AS variant
        FROM customers_event e JOIN customers_customer cu ON cu.id = e.customer_id
        WHERE e.name IN ('view', 'click') AND e.occurred_at >= %(touch_since)s
          AND e.properties ? 'campaign_id'
    """


def message_touches_sql() -> str | None:
    """Messages a customer received (SPEC §14), same columns as `view_click_touches_sql` with kind 'message':
    the campaign's messages that were sent or delivered."""
    return """
        SELECT m.campaign_id::text AS campaign_key, m.customer_id AS customer_id, m.sent_at AS touched_at,
               'message' AS kind, m.variant AS variant
        FROM notifications_message m
        WHERE m.status IN ('sent', 'delivered') AND m.campaign_id IS NOT NULL
          AND m.sent_at >= %(touch_since)s
    """


def message_costs_sql() -> str | None:
    """Per-message channel costs (SPEC §14), as rows of the rollup's parts (campaign_id, variant, hour,
    impressions, clicks, conversions, revenue, cost). Bound: %(since)s.

    A message's `cost` is set when it is sent, from the brand's per-channel settings (SMS by segment).
    """
    return """
        SELECT m.campaign_id, m.variant, date_trunc('hour', m.sent_at), 0, 0, 0, 0::numeric, SUM(m.cost)
        FROM notifications_message m
        WHERE m.status IN ('sent', 'delivered') AND m.campaign_id IS NOT NULL AND m.cost IS NOT NULL
          AND m.sent_at >= %(since)s
        GROUP BY 1, 2, 3
    """


def redemption_discounts_sql() -> str | None:
    """Discounts of committed redemptions (SPEC §12), as rows of the rollup's parts (campaign_id, variant,
    hour, impressions, clicks, conversions, revenue, cost). Bound: %(since)s.

    A discount is a cost of the hour it was committed in; a rolled back redemption (a refund) leaves the
    sum at the next refresh of its hour. Codes carry no experiment variant: the rows are variant ''.
    """
    return """
        SELECT c.campaign_id, '', date_trunc('hour', r.committed_at), 0, 0, 0, 0::numeric, SUM(r.discount)
        FROM promotions_redemption r JOIN promotions_promocode c ON c.id = r.code_id
        WHERE r.status = 'committed' AND r.committed_at >= %(since)s
        GROUP BY 1, 2, 3
    """


def touches_sql() -> str:
    """Every touch source, as one UNION ALL."""
    parts = [view_click_touches_sql(), message_touches_sql()]
    return " UNION ALL ".join(f"({part})" for part in parts if part)


def extra_costs_sql() -> list[str]:
    return [part for part in (message_costs_sql(), redemption_discounts_sql()) if part]


def experiment_outcomes_sql() -> str:
    """The campaign's experiments as insights read them (experiments sits above analytics: SQL, no import):
    experiment_id, status, winner ('' while none), primary_metric, variant key (control first), exposures,
    clicks, conversions of the experiment's current bucket version. Newest experiment first.

    Bound parameter: %(campaign_id)s.
    """
    return """
        SELECT x.id, x.status, x.winner, x.primary_metric, v.key,
               COALESCE(t.exposures, 0), COALESCE(t.clicks, 0), COALESCE(t.conversions, 0)
        FROM experiments_experiment x
        JOIN experiments_variant v ON v.experiment_id = x.id
        LEFT JOIN experiments_varianttotals t
               ON t.experiment_id = x.id AND t.bucket_version = x.bucket_version AND t.variant = v.key
        WHERE x.campaign_id = %(campaign_id)s
        ORDER BY x.created_at DESC, x.id DESC, v.position, v.id
    """
