"""A campaign's performance in plain words, by rules (SPEC §17, ADR 0027). Pure: figures in, sentences out.

Every number in a sentence is a fact first: it is put in `facts` (name → the exact text shown) and the
sentence is written from those strings, so nothing in the output is a number the metrics did not give.
The sentence templates themselves contain no digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from core.money import money_str

# Below these the ratios are noise: no verdict on them.
MIN_IMPRESSIONS = 100
MIN_CLICKS = 30
ABOVE, BELOW = Decimal("1.2"), Decimal("0.8")  # ±20 % against the brand's average counts as a difference
OVERSPEND_MARGIN, UNDERSPEND_MARGIN = Decimal("0.2"), Decimal("0.3")


@dataclass(frozen=True)
class Figures:
    impressions: int
    clicks: int
    conversions: int
    revenue: Decimal
    cost: Decimal


@dataclass(frozen=True)
class BudgetUse:
    used: Decimal
    limit: Decimal
    elapsed_share: Decimal | None  # share of the campaign's time gone (0–1), None when it has not started


@dataclass(frozen=True)
class Arm:
    key: str
    exposures: int
    clicks: int
    conversions: int


@dataclass(frozen=True)
class ExperimentOutcome:
    experiment_id: int
    status: str
    winner: str
    primary_metric: str
    arms: list[Arm]


@dataclass(frozen=True)
class Statement:
    code: str
    text: str


@dataclass
class Insights:
    summary: str
    strengths: list[Statement] = field(default_factory=list)
    weaknesses: list[Statement] = field(default_factory=list)
    suggestions: list[Statement] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)


def _percent(numerator: Decimal | int, divisor: Decimal | int) -> str:
    value = Decimal(numerator) * 100 / Decimal(divisor)
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _share(numerator: Decimal | int, divisor: Decimal | int) -> Decimal:
    return Decimal(numerator) / Decimal(divisor)


def summarise(
    *,
    campaign: Figures,
    brand: Figures,
    days: int,
    currency: str,
    budget: BudgetUse | None = None,
    experiment: ExperimentOutcome | None = None,
) -> Insights:
    facts: dict[str, str] = {
        "days": str(days),
        "impressions": str(campaign.impressions),
        "clicks": str(campaign.clicks),
        "conversions": str(campaign.conversions),
        "revenue": money_str(campaign.revenue, currency),
        "cost": money_str(campaign.cost, currency),
    }
    result = Insights(
        summary=(
            f"Over the last {facts['days']} days: {facts['impressions']} impressions, {facts['clicks']} clicks, "
            f"{facts['conversions']} conversions, {facts['revenue']} {currency} revenue for "
            f"{facts['cost']} {currency} cost."
        ),
        facts=facts,
    )
    if not (campaign.impressions or campaign.clicks or campaign.conversions):
        result.weaknesses.append(
            Statement(
                "no_activity",
                f"Nothing happened in the last {facts['days']} days: no impressions, clicks or conversions.",
            )
        )
        result.suggestions.append(
            Statement(
                "check_delivery", "Check that the campaign is active and that its messages are being sent."
            )
        )
    _click_through(result, campaign, brand, experiment)
    _conversion(result, campaign, brand)
    _return_on_spend(result, campaign, currency)
    if budget is not None:
        _budget(result, budget, currency)
    if experiment is not None:
        _experiment(result, experiment)
    return result


def _click_through(
    result: Insights, c: Figures, brand: Figures, experiment: ExperimentOutcome | None
) -> None:
    if c.impressions < MIN_IMPRESSIONS or not brand.impressions or not brand.clicks:
        return
    ours, theirs = _share(c.clicks, c.impressions), _share(brand.clicks, brand.impressions)
    result.facts["ctr"] = _percent(c.clicks, c.impressions)
    result.facts["brand_ctr"] = _percent(brand.clicks, brand.impressions)
    phrase = f"click-through rate of {result.facts['ctr']} against the brand's {result.facts['brand_ctr']}"
    if ours >= theirs * ABOVE:
        result.strengths.append(Statement("ctr_above_brand", f"People click: a {phrase}."))
    elif ours <= theirs * BELOW:
        result.weaknesses.append(Statement("ctr_below_brand", f"Few people click: a {phrase}."))
        if experiment is None or experiment.status != "running":
            result.suggestions.append(
                Statement(
                    "test_message",
                    "Run an experiment on the message's title or call to action (primary metric ctr).",
                )
            )


def _conversion(result: Insights, c: Figures, brand: Figures) -> None:
    if c.clicks < MIN_CLICKS or not brand.clicks or not brand.conversions:
        return
    ours, theirs = _share(c.conversions, c.clicks), _share(brand.conversions, brand.clicks)
    result.facts["conversion_rate"] = _percent(c.conversions, c.clicks)
    result.facts["brand_conversion_rate"] = _percent(brand.conversions, brand.clicks)
    phrase = (
        f"conversions per click of {result.facts['conversion_rate']} against the brand's "
        f"{result.facts['brand_conversion_rate']}"
    )
    if ours >= theirs * ABOVE:
        result.strengths.append(Statement("conversion_above_brand", f"Clicks turn into purchases: {phrase}."))
    elif ours <= theirs * BELOW:
        result.weaknesses.append(
            Statement("conversion_below_brand", f"Clicks rarely turn into purchases: {phrase}.")
        )
        result.suggestions.append(
            Statement(
                "review_offer",
                "Review the offer and the minimum purchase value: clicks do not become purchases.",
            )
        )


def _return_on_spend(result: Insights, c: Figures, currency: str) -> None:
    if c.cost <= 0:
        if c.revenue > 0:
            result.strengths.append(
                Statement(
                    "revenue_without_cost",
                    f"It brought {result.facts['revenue']} {currency} revenue at no recorded cost.",
                )
            )
        return
    roas = (c.revenue / c.cost).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    result.facts["roas"] = str(roas)
    result.facts["roi"] = _percent(c.revenue - c.cost, c.cost)
    spent = f"It spent {result.facts['cost']} {currency} and brought {result.facts['revenue']} {currency}"
    if c.revenue >= c.cost:
        result.strengths.append(
            Statement(
                "pays_back",
                f"{spent}: {result.facts['roas']} {currency} back per {currency} spent (ROI {result.facts['roi']}).",
            )
        )
    else:
        result.weaknesses.append(
            Statement(
                "loses_money",
                f"{spent}: only {result.facts['roas']} {currency} back per {currency} spent "
                f"(ROI {result.facts['roi']}).",
            )
        )
        result.suggestions.append(
            Statement(
                "move_budget",
                "Lower its budget or let a budget allocation move spend to campaigns that pay back.",
            )
        )


def _budget(result: Insights, budget: BudgetUse, currency: str) -> None:
    if budget.limit <= 0 or budget.elapsed_share is None:
        return
    used = _share(budget.used, budget.limit)
    result.facts["budget_used"] = _percent(budget.used, budget.limit)
    result.facts["time_elapsed"] = _percent(budget.elapsed_share, 1)
    where = (
        f"{result.facts['budget_used']} of its budget with {result.facts['time_elapsed']} of its time gone"
    )
    if used >= budget.elapsed_share + OVERSPEND_MARGIN:
        result.weaknesses.append(
            Statement("budget_burns_fast", f"It has used {where}: it will run out early.")
        )
        result.suggestions.append(
            Statement("pace_budget", "Raise the budget or lower the daily spend so it lasts.")
        )
    elif budget.elapsed_share >= UNDERSPEND_MARGIN and used + UNDERSPEND_MARGIN <= budget.elapsed_share:
        result.suggestions.append(
            Statement(
                "budget_underused",
                f"It has used only {where}: spend more on it or move the rest to other campaigns.",
            )
        )


def _rate(arm: Arm, metric: str) -> tuple[int, int]:
    return (arm.clicks, arm.exposures) if metric == "ctr" else (arm.conversions, arm.exposures)


def _experiment(result: Insights, experiment: ExperimentOutcome) -> None:
    result.facts["experiment_id"] = str(experiment.experiment_id)
    name = f"Experiment {result.facts['experiment_id']}"
    if experiment.status == "concluded" and experiment.winner:
        result.facts["winner"] = experiment.winner
        result.strengths.append(
            Statement(
                "experiment_winner",
                f"{name} found a winner: variant {result.facts['winner']}, now sent to everyone.",
            )
        )
        return
    if experiment.status != "running" or len(experiment.arms) < 2:
        return
    control, *others = experiment.arms
    if not control.exposures or not all(arm.exposures for arm in others):
        result.suggestions.append(
            Statement("experiment_waiting", f"{name} has no exposures in every variant yet.")
        )
        return
    best = max(others, key=lambda arm: _share(*_rate(arm, experiment.primary_metric)))
    result.facts["leader"], result.facts["control"] = best.key, control.key
    result.facts["leader_rate"] = _percent(*_rate(best, experiment.primary_metric))
    result.facts["control_rate"] = _percent(*_rate(control, experiment.primary_metric))
    result.facts["leader_exposures"] = str(best.exposures)
    result.suggestions.append(
        Statement(
            "experiment_running",
            f"{name} is still running: variant {result.facts['leader']} is at {result.facts['leader_rate']} against "
            f"the control {result.facts['control']} at {result.facts['control_rate']} after "
            f"{result.facts['leader_exposures']} exposures; keep it running until it names a winner.",
        )
    )
