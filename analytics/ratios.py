"""The derived metrics of SPEC §16 (pure): ratios are `None` when their divisor is 0, never an error.

ctr = clicks / impressions · conversion_rate = conversions / clicks · cpc = cost / clicks ·
cpa = cost / conversions · roas = revenue / cost · roi = (revenue − cost) / cost.
Ratios are Decimals rounded half-up to 4 places; cpc and cpa are money, rounded to the currency's minor unit.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from core.money import to_minor_unit

_FOUR = Decimal("0.0001")


def ratio(numerator: Decimal | int, divisor: Decimal | int) -> Decimal | None:
    if not divisor:
        return None
    return (Decimal(numerator) / Decimal(divisor)).quantize(_FOUR, rounding=ROUND_HALF_UP)


def money_per(amount: Decimal, divisor: int, currency: str) -> Decimal | None:
    if not divisor:
        return None
    return to_minor_unit(Decimal(amount) / divisor, currency)


def derived(
    *, impressions: int, clicks: int, conversions: int, revenue: Decimal, cost: Decimal, currency: str
) -> dict[str, Decimal | None]:
    return {
        "ctr": ratio(clicks, impressions),
        "conversion_rate": ratio(conversions, clicks),
        "cpc": money_per(cost, clicks, currency),
        "cpa": money_per(cost, conversions, currency),
        "roas": ratio(revenue, cost),
        "roi": ratio(revenue - cost, cost),
    }
