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
