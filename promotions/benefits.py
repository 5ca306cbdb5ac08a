"""The benefit of a promo code on an order (SPEC §12): pure, no ORM, no I/O.

`order_discount` takes the benefit, the order's lines and a predicate saying which lines the
campaign's item rules exclude (`CompiledCampaign.excludes`: a blacklisted sku or category), and
returns the order's *eligible value* (the sum of the lines that count, rounded half up to the minor
unit with `core.money.to_minor_unit`) and the discount:

* `percent`: `value` % of the eligible value;
* `fixed`: `value`, at most the eligible value;
* `free_item`: one unit of the line with sku `sku` (the cheapest such line that counts), nothing when
  the order has none;

each capped by `max_discount` when given, never above the eligible value, rounded once, half up, to
the minor unit. Whitelist multipliers and bonuses do not apply: they value purchases for partner
rewards, while a discount is money off what the customer pays. Excluded lines get no discount.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from campaigns.rules import PurchaseLine
from core.money import to_minor_unit

PERCENT, FIXED, FREE_ITEM = "percent", "fixed", "free_item"
BENEFIT_TYPES = (PERCENT, FIXED, FREE_ITEM)
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Benefit:
    type: str
    value: Decimal = _ZERO
    max_discount: Decimal | None = None
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class DiscountResult:
    eligible_value: Decimal
    discount: Decimal


def benefit_from_json(document: Mapping[str, Any]) -> Benefit:
    """The stored benefit JSON (validated on the way in) as a `Benefit`."""
    max_discount = document.get("max_discount")
    return Benefit(
        type=document["type"],
        value=Decimal(str(document.get("value") or 0)),
        max_discount=Decimal(str(max_discount)) if max_discount not in (None, "") else None,
        sku=document.get("sku") or None,
    )


def benefit_errors(document: Any) -> dict[str, list[str]]:
    """What is wrong with a benefit document, by key (empty when it is valid)."""
    if not isinstance(document, Mapping):
        return {"benefit": ['Expected an object {"type", "value", "max_discount"?, "sku"?}.']}
    errors: dict[str, list[str]] = {}
    kind = document.get("type")
    if kind not in BENEFIT_TYPES:
        errors["type"] = [f"Must be one of {', '.join(BENEFIT_TYPES)}."]
    for key in ("value", "max_discount"):
        raw = document.get(key)
        if raw in (None, "") and (key == "max_discount" or kind == FREE_ITEM):
            continue
        number = _decimal(raw)
        if number is None or number < 0 or number >= Decimal(10) ** 14:
            errors[key] = ["A decimal number ≥ 0 (below 10^14) is required."]
        elif key == "value" and kind == PERCENT and not (0 < number <= 100):
            errors[key] = ["A percentage must be more than 0 and at most 100."]
        elif key == "value" and kind == FIXED and number <= 0:
            errors[key] = ["A fixed discount must be more than 0."]
    if kind == FREE_ITEM and not (isinstance(document.get("sku"), str) and document["sku"].strip()):
        errors["sku"] = ["A free item benefit needs the sku of the item."]
    unknown = set(document) - {"type", "value", "max_discount", "sku"}
    if unknown:
        errors["benefit"] = [f"Unknown keys: {', '.join(sorted(map(str, unknown)))}."]
    return errors


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or isinstance(value, float) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def order_discount(
    *,
    benefit: Benefit,
    lines: Iterable[PurchaseLine],
    currency: str,
    excludes: Callable[[PurchaseLine], bool] = lambda line: False,
) -> DiscountResult:
    """The order's eligible value and the discount `benefit` gives on it (module docstring)."""
    counted = [line for line in lines if not excludes(line)]
    eligible = sum((line.quantity * line.unit_price for line in counted), _ZERO)
    if benefit.type == PERCENT:
        discount = eligible * benefit.value / _HUNDRED
    elif benefit.type == FIXED:
        discount = benefit.value
    elif benefit.type == FREE_ITEM:
        prices = [line.unit_price for line in counted if line.sku == benefit.sku]
        discount = min(prices) if prices else _ZERO
    else:
        raise ValueError(f"unknown benefit type {benefit.type!r}")
    if benefit.max_discount is not None:
        discount = min(discount, benefit.max_discount)
    eligible_value = to_minor_unit(eligible, currency)
    discount = min(to_minor_unit(discount, currency), eligible_value)
    return DiscountResult(
        eligible_value=eligible_value, discount=discount if discount else discount.copy_abs()
    )
