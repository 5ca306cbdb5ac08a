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

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import BudgetAllocation, BudgetAllocationLine
from analytics.sources import extra_costs_sql, touches_sql
from campaigns.budget_units import reward_unit
from campaigns.models import Budget, Campaign
from core.audit import audit_record
from core.exceptions import ConflictError, NotFoundError, ValidationFailed
from core.money import money_str, quantum_for, to_minor_unit

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


# --------------------------------------------------------------------------- budget allocations (SPEC §17)

MAX_ALLOCATION_CAMPAIGNS = 500
ALLOCATION_DRAWS = 50
_NOT_EDITABLE = ("completed", "cancelled", "archived")


@dataclass(frozen=True)
class AllocationRequest:
    campaign_id: int
    min: Decimal | None = None
    max: Decimal | None = None


def _decimals(value: Decimal) -> int:
    return max(0, -value.normalize().as_tuple().exponent)


def _round_split(
    spends: list[float], lower: list[Decimal], upper: list[Decimal], total: Decimal, quantum: Decimal
) -> list[Decimal]:
    """The solver's floats as amounts of the currency's minor unit summing to `total` exactly, within bounds
    (largest remainders first)."""
    units_total = int(total / quantum)
    lo = [int(v / quantum) for v in lower]
    hi = [int(v / quantum) for v in upper]
    raw = [s / float(quantum) for s in spends]
    units = [min(max(math.floor(r), lo[i]), hi[i]) for i, r in enumerate(raw)]
    gap = units_total - sum(units)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=gap > 0)
    while gap:
        moved = False
        for i in order:
            if gap > 0 and units[i] < hi[i]:
                units[i], gap, moved = units[i] + 1, gap - 1, True
            elif gap < 0 and units[i] > lo[i]:
                units[i], gap, moved = units[i] - 1, gap + 1, True
            if not gap:
                break
        if not moved:
            raise ValidationFailed({"total": ["The total cannot be split in minor units within the bounds."]})
    return [quantum * u for u in units]


def budget_allocation_check(
    *, total: Decimal, requests: list[AllocationRequest], horizon_days: int
) -> tuple[list[Campaign], list[Decimal], list[Decimal], dict[int, Budget], str]:
    """What an allocation of `total` over the campaigns may do (else ValidationFailed): the campaigns, their
    effective lower and upper bounds, their budgets and the shared currency. Reads only; admin forms use it."""
    errors: dict[str, Any] = {}
    if not isinstance(total, Decimal) or not total.is_finite() or total <= 0:
        errors["total"] = ["The total must be an amount greater than zero."]
    elif total >= Decimal("1e14"):
        errors["total"] = ["The total has at most 14 digits before the decimal point."]
    if not isinstance(horizon_days, int) or isinstance(horizon_days, bool) or not 1 <= horizon_days <= 366:
        errors["horizon_days"] = ["The horizon is a whole number of days from 1 to 366."]
    if not requests:
        errors["campaigns"] = ["Give at least one campaign."]
    elif len(requests) > MAX_ALLOCATION_CAMPAIGNS:
        errors["campaigns"] = [f"At most {MAX_ALLOCATION_CAMPAIGNS} campaigns at once."]
    elif len({r.campaign_id for r in requests}) != len(requests):
        errors["campaigns"] = ["Each campaign may appear once."]
    if errors:
        raise ValidationFailed(errors)
    found = Campaign.objects.in_bulk([r.campaign_id for r in requests])
    budgets = {b.campaign_id: b for b in Budget.objects.filter(campaign_id__in=list(found))}
    line_errors: dict[str, dict[str, list[str]]] = {}
    campaigns, lower, upper = [], [], []
    currencies = {c.currency for c in found.values()}
    currency = next(iter(currencies)) if len(currencies) == 1 else ""
    quantum = quantum_for(currency) if currency else Decimal("0.01")
    for index, request in enumerate(requests):
        problems: dict[str, list[str]] = {}
        campaign = found.get(request.campaign_id)
        if campaign is None:
            line_errors[str(index)] = {"id": [f"No campaign {request.campaign_id}."]}
            continue
        budget = budgets.get(campaign.pk)
        if campaign.status in _NOT_EDITABLE:
            problems["id"] = [
                f"Campaign {campaign.pk} is {campaign.status}: its budget can no longer change."
            ]
        elif budget is not None and budget.kind == Budget.Kind.COUNT:
            problems["id"] = [
                f"Campaign {campaign.pk} has a count budget; an allocation splits spend budgets."
            ]
        elif reward_unit(kind=Budget.Kind.SPEND, reward=campaign.reward) is None:
            problems["id"] = [
                f"Campaign {campaign.pk}'s reward value is not an amount: it cannot have a spend budget."
            ]
        used = (budget.committed + budget.reserved) if budget is not None else Decimal(0)
        # A budget limit is positive and never below what is already used.
        floor_amount = max(to_minor_unit(used, currency) if currency else used, quantum)
        if used > floor_amount:
            floor_amount += quantum
        low, high = request.min, request.max
        for name, value in (("min", low), ("max", high)):
            if value is not None and (not value.is_finite() or value < 0):
                problems[name] = ["Must be an amount of zero or more."]
            elif value is not None and currency and _decimals(value) > _decimals(quantum):
                problems[name] = [f"{currency} amounts have at most {_decimals(quantum)} decimals."]
        if "min" not in problems and low is not None and low < used:
            problems["min"] = [f"Below what the budget already uses ({used.normalize():f})."]
        low = max(low if low is not None else Decimal(0), floor_amount)
        high = high if high is not None else total
        if "max" not in problems and high < low:
            problems["max"] = [f"Must be at least the minimum ({low.normalize():f})."]
        if problems:
            line_errors[str(index)] = problems
        campaigns.append(campaign)
        lower.append(low)
        upper.append(min(high, total))
    if line_errors:
        raise ValidationFailed(
            {
                "campaigns": [
                    f"campaigns[{i}].{name}: {message}"
                    for i, problems in line_errors.items()
                    for name, messages in problems.items()
                    for message in messages
                ]
            }
        )
    if len(currencies) != 1:
        raise ValidationFailed({"campaigns": ["All campaigns of an allocation share one currency."]})
    if _decimals(total) > _decimals(quantum):
        raise ValidationFailed({"total": [f"{currency} amounts have at most {_decimals(quantum)} decimals."]})
    if sum(lower) > total:
        raise ValidationFailed({"total": [f"Below the campaigns' minimums ({sum(lower).normalize():f})."]})
    if sum(upper) < total:
        raise ValidationFailed({"total": [f"Above the campaigns' maximums ({sum(upper).normalize():f})."]})
    return campaigns, lower, upper, budgets, currency


def budget_allocation_create(
    *, actor: str, total: Decimal, campaigns: list[AllocationRequest], horizon_days: int = 30
) -> BudgetAllocation:
    """Propose the split of `total` that maximises the campaigns' predicted revenue within their bounds.

    The fitting and solving run before the transaction, which only writes the allocation, its lines and the
    audit row."""
    from analytics import allocation as allocating
    from analytics import forecasting
    from analytics.selectors import campaign_fit, spend_histories, spend_history

    chosen, lower, upper, budgets, currency = budget_allocation_check(
        total=total, requests=campaigns, horizon_days=horizon_days
    )
    today = timezone.now().date()
    histories = spend_histories(today=today, campaign_ids=[c.pk for c in chosen])
    # The brand's days are read only when a campaign is short of history (its fallback).
    short = any(len(h[0]) < forecasting.MIN_HISTORY_DAYS for h in histories.values())
    brand = spend_history(today=today) if short else ([], [])
    # The curve is the point fit either way; the draws only grade each line's confidence, so fewer suffice.
    fits = [
        campaign_fit(campaign=c, today=today, brand=brand, history=histories[c.pk], draws=ALLOCATION_DRAWS)
        for c in chosen
    ]
    candidates = [
        allocating.Candidate(key=c.pk, curve=fit.curve, lower=float(lo), upper=float(hi))
        for c, fit, lo, hi in zip(chosen, fits, lower, upper, strict=True)
    ]
    result = allocating.allocate(candidates=candidates, total=float(total), horizon_days=horizon_days)
    proposed = _round_split([s.spend for s in result.shares], lower, upper, total, quantum_for(currency))
    allocation = BudgetAllocation(total=total, currency=currency, horizon_days=horizon_days, created_by=actor,
                                  predicted_revenue=Decimal(0))  # fmt: skip
    lines, revenue_sum = [], Decimal(0)
    for campaign, fit, amount, lo, hi in zip(chosen, fits, proposed, lower, upper, strict=True):
        daily = float(amount) / horizon_days
        revenue = to_minor_unit(
            Decimal(repr(round(float(fit.curve.revenue(daily)) * horizon_days, 6))), currency
        )
        marginal = float(fit.curve.marginal(daily))
        saturation = fit.curve.saturation()
        saturation_spend = (
            None
            if saturation is None
            else to_minor_unit(Decimal(repr(round(saturation * horizon_days, 6))), currency)
        )
        budget = budgets.get(campaign.pk)
        current = budget.limit if budget is not None else None
        level = forecasting.confidence(fit, spend=float(amount), horizon_days=horizon_days)
        note = {
            forecasting.METHOD_BRAND_AVERAGE: f"{fit.history_days} days of history: the brand's average return",
            forecasting.METHOD_CAMPAIGN_AVERAGE: "its own average return: spend never varied enough for a curve",
        }.get(fit.method, f"{fit.history_days} days of history")
        shown = allocating.Share(key=campaign.pk, spend=float(amount), revenue=float(revenue), marginal_roas=marginal,
                                 saturation_spend=None if saturation is None else saturation * horizon_days,
                                 at_bound="min" if amount <= lo else "max" if amount >= hi else None)  # fmt: skip
        lines.append(
            BudgetAllocationLine(
                allocation=allocation,
                campaign=campaign,
                campaign_name=campaign.name,
                min_spend=lo,
                max_spend=hi,
                current_limit=current,
                proposed=amount,
                predicted_revenue=revenue,
                marginal_roas=Decimal(repr(round(marginal, 4))),
                saturation_spend=saturation_spend,
                confidence=level,
                method=fit.method,
                rationale=allocating.rationale(
                    name=campaign.name,
                    current=None if current is None else money_str(current, currency),
                    proposed=money_str(amount, currency),
                    currency=currency,
                    share=shown,
                    confidence=level,
                    saturation=None if saturation_spend is None else money_str(saturation_spend, currency),
                    method_note=note,
                ),
            )
        )
        revenue_sum += revenue
    allocation.predicted_revenue = revenue_sum
    with transaction.atomic():
        allocation.save()
        for line in lines:
            line.allocation = allocation
        BudgetAllocationLine.objects.bulk_create(lines)
        audit_record(
            actor=actor,
            action="budget_allocation.created",
            obj_or_type=allocation,
            changes={
                "total": {"before": None, "after": money_str(total, currency)},
                "horizon_days": {"before": None, "after": horizon_days},
                "proposed": {"before": None, "after": {str(line.campaign_id): money_str(line.proposed, currency)
                                                       for line in lines}},
            },
        )  # fmt: skip
    return allocation


@transaction.atomic
def budget_allocation_apply(*, actor: str, allocation_id: int) -> BudgetAllocation:
    """Write every line's spend budget (campaigns.budgets, one audit row each that changes); once only.

    The claim is one conditional UPDATE, so two concurrent applies cannot both pass; any budget that cannot
    take its line (spent past it meanwhile, the campaign closed or deleted) rolls the whole apply back.
    """
    from campaigns.budgets import budget_set

    now = timezone.now()
    claimed = BudgetAllocation.objects.filter(
        pk=allocation_id, status=BudgetAllocation.Status.PROPOSED
    ).update(status=BudgetAllocation.Status.APPLIED, applied_at=now, applied_by=actor)
    if not claimed:
        if not BudgetAllocation.objects.filter(pk=allocation_id).exists():
            raise NotFoundError(f"No budget allocation {allocation_id}.", code="not_found")
        raise ConflictError(
            f"Budget allocation {allocation_id} is already applied.", code="allocation_applied"
        )
    allocation = BudgetAllocation.objects.get(pk=allocation_id)
    changed: dict[str, dict[str, str | None]] = {}
    for line in allocation.lines.order_by("campaign_id"):
        if line.campaign_id is None:
            raise ConflictError(
                f"Campaign {line.campaign_name!r} was deleted since this allocation was proposed.",
                code="allocation_stale",
            )
        budget = Budget.objects.filter(campaign_id=line.campaign_id).first()
        if budget is not None and budget.kind == Budget.Kind.COUNT:
            raise ConflictError(
                f"Campaign {line.campaign_id} has a count budget now; an allocation sets spend budgets.",
                code="allocation_stale",
            )
        if budget is not None and budget.limit == line.proposed:
            continue  # nothing to change: no budget write, no audit row
        budget_set(
            campaign_id=line.campaign_id,
            actor=actor,
            kind=Budget.Kind.SPEND,
            limit=line.proposed,
            period=budget.period if budget is not None else Budget.Period.TOTAL,
            pause_at_percent=budget.pause_at_percent if budget is not None else 90,
        )
        changed[str(line.campaign_id)] = {
            "before": None if budget is None else money_str(budget.limit, allocation.currency),
            "after": money_str(line.proposed, allocation.currency),
        }
    audit_record(
        actor=actor,
        action="budget_allocation.applied",
        obj_or_type=allocation,
        changes={
            "status": {"before": "proposed", "after": "applied"},
            "budgets": {"before": None, "after": changed},
        },
    )
    return allocation
