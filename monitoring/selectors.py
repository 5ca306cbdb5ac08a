"""Dashboard reads.

* `evaluation_totals`: the ONE place that computes what a campaign's evaluations add up to — evaluated,
  eligible, ineligible per reason and the eligible value (money). The overview, the campaign dashboard
  and `GET /campaigns/{id}/stats/` all read it, so they cannot show two amounts for the same rows.
  It reads the evaluations themselves (index `evaluation_campaign_idx`), like /stats/ always did.
* Everything else — hourly series, 24 h counts, dispatch outcomes, awards, notifications — comes from
  the hourly rollup (a few rows per campaign and hour), refreshed by the monitoring tick; its
  `computed_at` is shown as "figures as of".
* The per-campaign retrying/dead dispatch counts are an index-only count on (campaign, status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Sum
from django.utils import timezone

from campaigns.models import Campaign
from core import task_names
from core.money import money_str, to_minor_unit
from monitoring.models import CampaignHourlyRollup, HealthSnapshot
from monitoring.rollups import hour_floor
from purchases.models import Evaluation
from tenants.schedules import PERIODIC_JOBS

FIGURES = (
    "evaluated",
    "eligible",
    "eligible_value",
    "dispatch_sent",
    "dispatch_retry",
    "dispatch_dead",
    "awards",
    "notifications_sent",
    "notifications_failed",
)


@dataclass
class HourPoint:
    hour: datetime
    evaluated: int = 0
    eligible: int = 0
    eligible_value: Decimal = Decimal(0)
    dispatch_sent: int = 0
    dispatch_retry: int = 0
    dispatch_dead: int = 0
    awards: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0


@dataclass
class CampaignTotals:
    evaluated: int = 0
    eligible: int = 0
    eligible_value: Decimal = Decimal(0)
    dispatch_sent: int = 0
    dispatch_retry: int = 0
    dispatch_dead: int = 0
    awards: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0
    computed_at: datetime | None = None
    extra: dict = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return self.dispatch_sent + self.dispatch_retry + self.dispatch_dead

    @property
    def success_rate(self) -> Decimal | None:
        """Share of partner attempts that succeeded, in % (None: no attempt yet)."""
        if not self.attempts:
            return None
        return (Decimal(100 * self.dispatch_sent) / self.attempts).quantize(Decimal("0.1"))


@dataclass
class EvaluationTotals:
    """What one campaign's evaluations add up to; `eligible_value` rounded to the currency's minor unit."""

    currency: str
    evaluated: int = 0
    eligible: int = 0
    ineligible: dict[str, int] = field(default_factory=dict)
    eligible_value: Decimal = Decimal(0)

    @property
    def eligible_value_str(self) -> str:
        """The amount as the API writes it (core.money): "329622.51", "1502" for JPY."""
        return money_str(self.eligible_value, self.currency)


def evaluation_totals(
    *, campaigns: list[Campaign], since: datetime | None = None
) -> dict[int, EvaluationTotals]:
    """Per campaign id: its evaluations' totals (evaluated since `since` when given), in one query.

    Money is summed exactly per campaign (never across currencies) and rounded once, half up
    (core.money), so every page and the API show the same string for the same rows.
    """
    totals = {campaign.pk: EvaluationTotals(currency=campaign.currency) for campaign in campaigns}
    if not totals:
        return totals
    rows = Evaluation.objects.filter(campaign_id__in=list(totals))
    if since is not None:
        rows = rows.filter(evaluated_at__gte=since)
    exact: dict[int, Decimal] = dict.fromkeys(totals, Decimal(0))
    for row in (
        rows.values("campaign_id", "eligible", "reason")
        .annotate(n=Count("id"), value=Sum("eligible_value"))
        .order_by()
    ):
        figures = totals[row["campaign_id"]]
        figures.evaluated += row["n"]
        if row["eligible"]:
            figures.eligible += row["n"]
            exact[row["campaign_id"]] += row["value"] or Decimal(0)
        else:
            figures.ineligible[row["reason"]] = figures.ineligible.get(row["reason"], 0) + row["n"]
    for campaign_id, figures in totals.items():
        figures.eligible_value = to_minor_unit(exact[campaign_id], figures.currency)
        figures.ineligible = dict(sorted(figures.ineligible.items()))
    return totals


def rollup_refresh_seconds() -> int:
    """How often the monitoring tick refreshes the rollup and the health snapshot (its beat cadence)."""
    for job in PERIODIC_JOBS:
        if job.tenant_task == task_names.MONITORING_TICK and job.every_seconds:
            return job.every_seconds
    raise LookupError("the monitoring tick has no periodic job")


def _sums(queryset) -> dict:
    return queryset.aggregate(**{name: Sum(name) for name in FIGURES}, computed_at=Max("computed_at"))


def _totals(values: dict) -> CampaignTotals:
    return CampaignTotals(
        **{name: values.get(name) or (Decimal(0) if name == "eligible_value" else 0) for name in FIGURES},
        computed_at=values.get("computed_at"),
    )


def _in_minor_units(totals: CampaignTotals, currency: str) -> CampaignTotals:
    # The rollups sum exact stored values; what a page shows is rounded like every other amount.
    totals.eligible_value = to_minor_unit(totals.eligible_value, currency)
    return totals


def campaign_hourly_series(*, campaign: Campaign, hours: int, now: datetime | None = None) -> list[HourPoint]:
    """The campaign's last `hours` hours (the current one included), one point per hour, zeros filled in.

    `eligible_value` is in the campaign currency's minor unit, like `campaign_totals`."""
    end = hour_floor(now or timezone.now())
    start = end - timedelta(hours=hours - 1)
    stored = {
        row["hour"]: row
        for row in CampaignHourlyRollup.objects.filter(campaign=campaign, hour__gte=start).values(
            "hour", *FIGURES
        )
    }
    points = []
    for index in range(hours):
        hour = start + timedelta(hours=index)
        row = stored.get(hour)
        point = HourPoint(hour=hour, **{name: row[name] for name in FIGURES}) if row else HourPoint(hour=hour)
        point.eligible_value = to_minor_unit(point.eligible_value, campaign.currency)
        points.append(point)
    return points


def campaign_totals(*, campaign: Campaign, since: datetime | None = None) -> CampaignTotals:
    """The campaign's rollup totals (since `since`, else all time), `eligible_value` in its minor unit."""
    rows = CampaignHourlyRollup.objects.filter(campaign=campaign)
    if since is not None:
        rows = rows.filter(hour__gte=hour_floor(since))
    return _in_minor_units(_totals(_sums(rows)), campaign.currency)


def campaign_dispatch_backlog(*, campaign_id: int) -> dict[str, int]:
    """Current retrying and dead dispatches of the campaign (index on (campaign, status))."""
    from dispatches.models import Dispatch

    wanted = [Dispatch.Status.RETRYING, Dispatch.Status.DEAD]
    counts = dict(
        Dispatch.objects.filter(campaign_id=campaign_id, status__in=wanted)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {status.value: counts.get(status.value, 0) for status in wanted}


def campaigns_overview(*, since: datetime | None = None) -> list[tuple[Campaign, CampaignTotals]]:
    """Every campaign but drafts, with its rollup totals since `since` (all time when None), in one query."""
    rows = CampaignHourlyRollup.objects.all()
    if since is not None:
        rows = rows.filter(hour__gte=hour_floor(since))
    per_campaign = {
        row["campaign_id"]: row
        for row in rows.values("campaign_id")
        .annotate(**{name: Sum(name) for name in FIGURES}, computed_at=Max("computed_at"))
        .order_by()
    }
    campaigns = Campaign.objects.exclude(status__in=[Campaign.Status.DRAFT]).order_by("-starts_at", "name")
    return [
        (campaign, _in_minor_units(_totals(per_campaign.get(campaign.pk, {})), campaign.currency))
        for campaign in campaigns
    ]


def brand_totals(*, since: datetime) -> CampaignTotals:
    """All the brand's campaigns together since `since` (platform dashboard)."""
    return _totals(_sums(CampaignHourlyRollup.objects.filter(hour__gte=hour_floor(since))))


def brand_health() -> HealthSnapshot | None:
    return HealthSnapshot.objects.filter(pk=1).first()


@dataclass(frozen=True)
class BudgetBurnDown:
    """A campaign budget's use at the end of each hour of a chart (whole units), with its two lines."""

    kind: str
    limit: Decimal
    committed: Decimal
    reserved: Decimal
    pause_at_percent: int
    period: str
    used: list[int]
    limit_line: list[int]
    pause_line: list[int]

    @property
    def used_percent(self) -> Decimal:
        return ((self.committed + self.reserved) * 100 / self.limit).quantize(Decimal("0.1"))


def budget_burn_down(*, campaign: Campaign, hours: list[datetime]) -> BudgetBurnDown | None:
    """SPEC §13 burn-down: committed + reserved of the current period at the end of each hour (one query).

    Released reservations gave their amount back and do not count; the ledger row's `created_at` is when
    the amount was taken. None for a campaign without a budget.
    """
    from campaigns.models import Budget, BudgetLedger

    budget = Budget.objects.filter(campaign=campaign).first()
    if budget is None:
        return None
    rows = (
        BudgetLedger.objects.filter(budget=budget, period_start=budget.period_start)
        .exclude(status=BudgetLedger.Status.RELEASED)
        .order_by("created_at")
        .values_list("created_at", "amount")
    )
    used, total, index = [], Decimal(0), 0
    rows = list(rows)
    for hour in hours:
        end = hour + timedelta(hours=1)
        while index < len(rows) and rows[index][0] < end:
            total += rows[index][1]
            index += 1
        used.append(int(total))
    limit = int(budget.limit)
    return BudgetBurnDown(
        kind=budget.kind,
        limit=budget.limit,
        committed=budget.committed,
        reserved=budget.reserved,
        pause_at_percent=budget.pause_at_percent,
        period=budget.period,
        used=used,
        limit_line=[limit] * len(hours),
        pause_line=[int(budget.limit * budget.pause_at_percent / 100)] * len(hours),
    )
