"""Reads of analytics: campaign metrics by period, the performance report, cohorts (SPEC §16).

Metrics and the report read the daily figures (one row per campaign, variant and day, kept from the
hourly rollup), so a year of one campaign is ≤ 365 rows and a year of every campaign one indexed
aggregate. Cohorts read the purchases (a report, not a hot path).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from analytics.ratios import derived, ratio
from campaigns.models import Campaign
from core.money import money_str

GRANULARITIES = ("day", "week", "month")
FIGURES = ("impressions", "clicks", "conversions", "revenue", "cost")
RATIOS = ("ctr", "conversion_rate", "cpc", "cpa", "roas", "roi")
REPORT_COLUMNS = ("campaign_id", "campaign", "status", "currency", *FIGURES, *RATIOS)


def period_start(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _next_period(start: date, granularity: str) -> date:
    if granularity == "week":
        return start + timedelta(days=7)
    if granularity == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def figures_row(
    *, impressions: int, clicks: int, conversions: int, revenue: Decimal, cost: Decimal, currency: str
) -> dict[str, Any]:
    """The figures and their ratios as the API shows them: money as strings, ratios as 4-place numbers."""
    ratios = derived(impressions=impressions, clicks=clicks, conversions=conversions, revenue=revenue,
                     cost=cost, currency=currency)  # fmt: skip
    return {
        "impressions": impressions,
        "clicks": clicks,
        "conversions": conversions,
        "revenue": money_str(revenue, currency),
        "cost": money_str(cost, currency),
        **{
            name: None
            if value is None
            else (money_str(value, currency) if name in ("cpc", "cpa") else float(value))
            for name, value in ratios.items()
        },
    }


def campaign_metrics(
    *, campaign: Campaign, start: date, end: date, granularity: str, variant: str | None = None
) -> list[dict[str, Any]]:
    """One row per period from `start` to `end` (inclusive days), zeros where nothing happened."""
    trunc = {"day": "day", "week": "week", "month": "month"}[granularity]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc(%s, day)::date, SUM(impressions), SUM(clicks), SUM(conversions), SUM(revenue),"
            " SUM(cost) FROM analytics_campaigndailyfigures WHERE campaign_id = %s AND day BETWEEN %s AND %s"
            " AND (%s::text IS NULL OR variant = %s) GROUP BY 1",
            [trunc, campaign.pk, start, end, variant, variant],
        )
        found = {row[0]: row[1:] for row in cursor.fetchall()}
    rows = []
    current = period_start(start, granularity)
    while current <= end:
        impressions, clicks, conversions, revenue, cost = found.get(
            current, (0, 0, 0, Decimal(0), Decimal(0))
        )
        rows.append(
            {
                "period_start": current.isoformat(),
                **figures_row(
                    impressions=int(impressions),
                    clicks=int(clicks),
                    conversions=int(conversions),
                    revenue=revenue,
                    cost=cost,
                    currency=campaign.currency,
                ),
            }
        )
        current = _next_period(current, granularity)
    return rows


@dataclass(frozen=True)
class ReportRow:
    campaign_id: int
    campaign: str
    status: str
    currency: str
    figures: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "campaign": self.campaign, "status": self.status,
                "currency": self.currency, **self.figures}  # fmt: skip


def performance_report(*, start: date, end: date) -> Iterator[ReportRow]:
    """Every campaign's totals over the days, biggest revenue first (campaigns with no figures included)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, c.name, c.status, c.currency, COALESCE(f.impressions, 0), COALESCE(f.clicks, 0),
                   COALESCE(f.conversions, 0), COALESCE(f.revenue, 0), COALESCE(f.cost, 0)
            FROM campaigns_campaign c
            LEFT JOIN (
                SELECT campaign_id, SUM(impressions) AS impressions, SUM(clicks) AS clicks,
                       SUM(conversions) AS conversions, SUM(revenue) AS revenue, SUM(cost) AS cost
                FROM analytics_campaigndailyfigures WHERE day BETWEEN %s AND %s GROUP BY 1
            ) f ON f.campaign_id = c.id
            ORDER BY COALESCE(f.revenue, 0) DESC, c.id
            """,
            [start, end],
        )
        rows = cursor.fetchall()
    for campaign_id, name, status, currency, impressions, clicks, conversions, revenue, cost in rows:
        yield ReportRow(
            campaign_id=campaign_id,
            campaign=name,
            status=status,
            currency=currency,
            figures=figures_row(
                impressions=int(impressions),
                clicks=int(clicks),
                conversions=int(conversions),
                revenue=revenue,
                cost=cost,
                currency=currency,
            ),
        )


def cohorts(*, start: date, end: date, periods: int) -> list[dict[str, Any]]:
    """Customers by the week of their first purchase (weeks starting Monday, UTC, from `start` to `end`);
    for each later week 1…periods, the share of the cohort that purchased in it (None: not over yet)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH firsts AS (
                SELECT customer_id, date_trunc('week', MIN(purchased_at) AT TIME ZONE 'UTC')::date AS cohort
                FROM purchases_purchase GROUP BY 1
            ),
            members AS (SELECT * FROM firsts WHERE cohort BETWEEN %(start)s AND %(end)s),
            activity AS (
                SELECT DISTINCT m.cohort, m.customer_id,
                       ((date_trunc('week', p.purchased_at AT TIME ZONE 'UTC')::date - m.cohort) / 7) AS week
                FROM members m JOIN purchases_purchase p ON p.customer_id = m.customer_id
            )
            SELECT m.cohort, COUNT(DISTINCT m.customer_id) AS size,
                   (SELECT array_agg(n ORDER BY w) FROM (
                        SELECT gs.w, (SELECT COUNT(*) FROM activity a WHERE a.cohort = m.cohort AND a.week = gs.w) AS n
                        FROM generate_series(1, %(periods)s) AS gs(w)) AS x) AS retained
            FROM members m GROUP BY m.cohort ORDER BY m.cohort
            """,
            {"start": start, "end": end, "periods": periods},
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT date_trunc('week', now() AT TIME ZONE 'UTC')::date")
        (this_week,) = cursor.fetchone()
    result = []
    for cohort, size, retained in rows:
        weeks_over = (this_week - cohort).days // 7  # later weeks that have started
        result.append(
            {
                "cohort": cohort.isoformat(),
                "size": size,
                "retention": [
                    float(ratio(n, size)) if week <= weeks_over else None
                    for week, n in enumerate(retained, start=1)
                ],
            }
        )
    return result


@dataclass(frozen=True)
class ConversionTrend:
    campaign_id: int
    first_week_rate: Decimal
    recent_rate: Decimal


def conversion_trends(*, today: date, recent_days: int, min_clicks: int) -> list[ConversionTrend]:
    """Running (active) campaigns whose first week is over: conversion rate (conversions / clicks) of their
    first 7 days and of the last `recent_days` days, both with at least `min_clicks` clicks."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id,
                   SUM(f.conversions) FILTER (WHERE f.day < (c.starts_at AT TIME ZONE 'UTC')::date + 7),
                   SUM(f.clicks) FILTER (WHERE f.day < (c.starts_at AT TIME ZONE 'UTC')::date + 7),
                   SUM(f.conversions) FILTER (WHERE f.day > %(today)s - %(days)s),
                   SUM(f.clicks) FILTER (WHERE f.day > %(today)s - %(days)s)
            FROM campaigns_campaign c JOIN analytics_campaigndailyfigures f ON f.campaign_id = c.id
            WHERE c.status = 'active' AND (c.starts_at AT TIME ZONE 'UTC')::date + 7 <= %(today)s - %(days)s + 1
            GROUP BY c.id ORDER BY c.id
            """,
            {"today": today, "days": recent_days},
        )
        rows = cursor.fetchall()
    return [
        ConversionTrend(campaign_id, ratio(first_conv, first_clicks), ratio(recent_conv, recent_clicks))
        for campaign_id, first_conv, first_clicks, recent_conv, recent_clicks in rows
        if (first_clicks or 0) >= max(min_clicks, 1) and (recent_clicks or 0) >= max(min_clicks, 1)
    ]


def daily_totals(
    *, start: date, end: date, campaign_id: int | None = None
) -> list[tuple[date, int, int, int]]:
    """(day, impressions, clicks, conversions) for every day from `start` to `end`, one campaign or all."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT day, SUM(impressions), SUM(clicks), SUM(conversions) FROM analytics_campaigndailyfigures"
            " WHERE day BETWEEN %s AND %s AND (%s::bigint IS NULL OR campaign_id = %s) GROUP BY 1",
            [start, end, campaign_id, campaign_id],
        )
        found = {row[0]: row[1:] for row in cursor.fetchall()}
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return [(d, *(int(v) for v in found.get(d, (0, 0, 0)))) for d in days]


# --------------------------------------------------------------------------- forecasts, insights (SPEC §17)

HISTORY_DAYS = 365


def spend_history(*, today: date, campaign_id: int | None = None) -> tuple[list[float], list[float]]:
    """(spend, revenue) of every complete UTC day with spend in the last year before `today`: one campaign's
    days (its variants summed), or every campaign-day of the brand when `campaign_id` is None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT SUM(cost)::float8, SUM(revenue)::float8 FROM analytics_campaigndailyfigures"
            " WHERE day BETWEEN %s AND %s AND (%s::bigint IS NULL OR campaign_id = %s)"
            " GROUP BY campaign_id, day HAVING SUM(cost) > 0 ORDER BY campaign_id, day",
            [today - timedelta(days=HISTORY_DAYS), today - timedelta(days=1), campaign_id, campaign_id],
        )
        rows = cursor.fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


def spend_histories(*, today: date, campaign_ids: list[int]) -> dict[int, tuple[list[float], list[float]]]:
    """`spend_history` of many campaigns in one statement (an allocation reads a hundred at once)."""
    histories: dict[int, tuple[list[float], list[float]]] = {pk: ([], []) for pk in campaign_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT campaign_id, SUM(cost)::float8, SUM(revenue)::float8 FROM analytics_campaigndailyfigures"
            " WHERE day BETWEEN %s AND %s AND campaign_id = ANY(%s)"
            " GROUP BY campaign_id, day HAVING SUM(cost) > 0 ORDER BY campaign_id, day",
            [today - timedelta(days=HISTORY_DAYS), today - timedelta(days=1), list(campaign_ids)],
        )
        for campaign_id, cost, revenue in cursor.fetchall():
            histories[campaign_id][0].append(cost)
            histories[campaign_id][1].append(revenue)
    return histories


def campaign_fit(
    *,
    campaign: Campaign,
    today: date,
    brand: tuple[list[float], list[float]] | None = None,
    history: tuple[list[float], list[float]] | None = None,
    draws: int | None = None,
):
    """The campaign's revenue curve (analytics.forecasting.Fit), seeded by its id: the same answer each time."""
    from analytics import forecasting

    spend, revenue = history if history is not None else spend_history(today=today, campaign_id=campaign.pk)
    if len(spend) < forecasting.MIN_HISTORY_DAYS and brand is None:
        brand = spend_history(today=today)
    brand_spend, brand_revenue = brand or ([], [])
    return forecasting.fit_history(spend, revenue, brand_spend=brand_spend, brand_revenue=brand_revenue,
                                   seed=campaign.pk, draws=draws or forecasting.DEFAULT_DRAWS)  # fmt: skip


def _ratio4(value: float | None) -> float | None:
    return None if value is None else float(Decimal(repr(value)).quantize(Decimal("0.0001")))


def _driver(driver) -> dict[str, Any]:
    value = driver.value
    return {
        "name": driver.name,
        "value": _ratio4(value) if isinstance(value, float) else value,
        "text": driver.text,
    }


def campaign_forecast(*, campaign: Campaign, spend: Decimal, horizon_days: int) -> dict[str, Any]:
    """Pessimistic / baseline / optimistic revenue and ROI of `spend` over `horizon_days` (SPEC §17)."""
    from analytics import forecasting

    today = timezone.now().date()
    fit = campaign_fit(campaign=campaign, today=today)
    result = forecasting.forecast(fit, spend=float(spend), horizon_days=horizon_days, currency=campaign.currency,
                                  seed=campaign.pk)  # fmt: skip
    currency = campaign.currency
    body: dict[str, Any] = {
        "campaign_id": campaign.pk,
        "currency": currency,
        "spend": money_str(spend, currency),
        "horizon_days": horizon_days,
        "method": result.method,
        "fallback": result.fallback,
        "reason": result.reason,
        "history_days": result.history_days,
    }
    for name, scenario in result.scenarios.items():
        body[name] = {
            "revenue": money_str(Decimal(repr(round(scenario.revenue, 6))), currency),
            "roi": _ratio4(scenario.roi),
            "marginal_roas": _ratio4(scenario.marginal_roas),
            "saturation_spend": None
            if scenario.saturation_spend is None
            else money_str(Decimal(repr(round(scenario.saturation_spend, 6))), currency),
            "drivers": [_driver(d) for d in scenario.drivers],
        }
    body["drivers"] = [_driver(d) for d in result.drivers]
    return body


def _figures(start: date, end: date, campaign_id: int | None) -> Any:
    from analytics.insights import Figures

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(impressions), 0), COALESCE(SUM(clicks), 0), COALESCE(SUM(conversions), 0),"
            " COALESCE(SUM(revenue), 0), COALESCE(SUM(cost), 0) FROM analytics_campaigndailyfigures"
            " WHERE day BETWEEN %s AND %s AND (%s::bigint IS NULL OR campaign_id = %s)",
            [start, end, campaign_id, campaign_id],
        )
        impressions, clicks, conversions, revenue, cost = cursor.fetchone()
    return Figures(int(impressions), int(clicks), int(conversions), Decimal(revenue), Decimal(cost))


def _budget_use(campaign: Campaign, now) -> Any:
    from analytics.insights import BudgetUse
    from campaigns.models import Budget

    budget = Budget.objects.filter(campaign=campaign, kind=Budget.Kind.SPEND).first()
    if budget is None:
        return None
    length = (campaign.ends_at - campaign.starts_at).total_seconds()
    gone = (min(now, campaign.ends_at) - campaign.starts_at).total_seconds()
    elapsed = None if gone <= 0 or length <= 0 else Decimal(repr(round(gone / length, 4)))
    return BudgetUse(used=budget.committed + budget.reserved, limit=budget.limit, elapsed_share=elapsed)


def _latest_experiment(campaign: Campaign) -> Any:
    from analytics.insights import Arm, ExperimentOutcome
    from analytics.sources import experiment_outcomes_sql

    with connection.cursor() as cursor:
        cursor.execute(experiment_outcomes_sql(), {"campaign_id": campaign.pk})
        rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0][0]
    arms = [Arm(key, int(exposures), int(clicks), int(conversions))
            for experiment_id, _s, _w, _m, key, exposures, clicks, conversions in rows if experiment_id == first]  # fmt: skip
    return ExperimentOutcome(experiment_id=first, status=rows[0][1], winner=rows[0][2], primary_metric=rows[0][3],
                             arms=arms)  # fmt: skip


def campaign_insights(*, campaign: Campaign, start: date, end: date) -> dict[str, Any]:
    """Strengths, weaknesses and suggestions of a campaign from its metrics, budget and experiments."""
    from analytics.insights import summarise

    result = summarise(
        campaign=_figures(start, end, campaign.pk),
        brand=_figures(start, end, None),
        days=(end - start).days + 1,
        currency=campaign.currency,
        budget=_budget_use(campaign, timezone.now()),
        experiment=_latest_experiment(campaign),
    )
    return {
        "campaign_id": campaign.pk,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": campaign.currency,
        "summary": result.summary,
        **{kind: [{"code": s.code, "text": s.text} for s in getattr(result, kind)]
           for kind in ("strengths", "weaknesses", "suggestions")},
        "facts": result.facts,
    }  # fmt: skip


# --------------------------------------------------------------------------- budget allocations


def allocation_list():
    from analytics.models import BudgetAllocation

    return BudgetAllocation.objects.prefetch_related("lines").order_by("-created_at", "-id")


def allocation_get(*, allocation_id: int):
    from analytics.models import BudgetAllocation
    from core.exceptions import NotFoundError

    allocation = BudgetAllocation.objects.prefetch_related("lines").filter(pk=allocation_id).first()
    if allocation is None:
        raise NotFoundError(f"No budget allocation {allocation_id}.", code="not_found")
    return allocation


def allocation_data(allocation) -> dict[str, Any]:
    currency = allocation.currency

    def money(value: Decimal | None) -> str | None:
        return None if value is None else money_str(value, currency)

    return {
        "id": allocation.pk,
        "status": allocation.status,
        "total": money(allocation.total),
        "currency": currency,
        "horizon_days": allocation.horizon_days,
        "predicted_revenue": money(allocation.predicted_revenue),
        "created_by": allocation.created_by,
        "created_at": allocation.created_at.isoformat(),
        "applied_by": allocation.applied_by or None,
        "applied_at": allocation.applied_at.isoformat() if allocation.applied_at else None,
        "campaigns": [
            {
                "id": line.campaign_id,
                "name": line.campaign_name,
                "min": money(line.min_spend),
                "max": money(line.max_spend),
                "current": money(line.current_limit),
                "proposed": money(line.proposed),
                "predicted_revenue": money(line.predicted_revenue),
                "marginal_roas": float(line.marginal_roas),
                "saturation_spend": money(line.saturation_spend),
                "confidence": line.confidence,
                "method": line.method,
                "rationale": line.rationale,
            }
            for line in allocation.lines.all()
        ],
    }
