"""The lines of a refund (SPEC §12): which bought lines a request takes back, and what is left.

Pure: plain lists and dicts in, results out; no ORM, no I/O. A purchase's lines are its stored
`items` (`{"sku", "category", "quantity", "unit_price"}`, unit price a canonical string); a refund
request names lines by `sku`, with `quantity`, and optionally `unit_price` and `category` to pick
among lines of the same sku. A requested quantity is taken from the matching lines in purchase order.

* a request naming a line the purchase does not have, or more than was bought, is a 400
  (`RefundInvalid`, with per-item field errors, like a purchase's items);
* a request for more than is left after earlier refunds is a 409 (`RefundExceedsRemaining`): the
  request is fine, the purchase's state refuses it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from purchases.validation import validate_amount, validate_text

MAX_REFUND_ITEMS = 1000
Line = dict[str, Any]


class RefundInvalid(Exception):
    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__("The refund is not valid.")
        self.fields = fields


class RefundExceedsRemaining(Exception):
    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__("The refund asks for more than is left of the purchase.")
        self.fields = fields


@dataclass(frozen=True, slots=True)
class RefundItem:
    sku: str
    quantity: int
    unit_price: Decimal | None = None
    category: str | None = None

    def matches(self, line: Line) -> bool:
        return (
            line["sku"] == self.sku
            and (self.unit_price is None or Decimal(line["unit_price"]) == self.unit_price)
            and (self.category is None or line.get("category") == self.category)
        )

    def as_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"sku": self.sku, "quantity": self.quantity}
        if self.unit_price is not None:
            item["unit_price"] = str(self.unit_price)
        if self.category is not None:
            item["category"] = self.category
        return item


def _quantity(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value == value.to_integral_value()
        and abs(value) < 10**9
    ):
        return int(value)
    return None


def parse_refund_request(data: Any) -> list[RefundItem] | None:
    """The body `{"items"?: [...]}`: None for a whole refund (no `items`), else the items; 400 if malformed."""
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        raise RefundInvalid({"non_field_errors": ["Expected a JSON object."]})
    if "items" not in data or data["items"] is None:
        return None
    raw_items = data["items"]
    if not isinstance(raw_items, list) or not raw_items:
        raise RefundInvalid(
            {"items": ["Expected a non-empty list of items; leave it out to refund everything."]}
        )
    if len(raw_items) > MAX_REFUND_ITEMS:
        raise RefundInvalid({"items": [f"Ensure this list has no more than {MAX_REFUND_ITEMS} items."]})
    items: list[RefundItem] = []
    errors: list[dict[str, Any]] = []
    for raw in raw_items:
        line_errors: dict[str, Any] = {}
        errors.append(line_errors)
        if not isinstance(raw, dict):
            line_errors["non_field_errors"] = ["Expected an object with sku and quantity."]
            continue
        sku, sku_errors = validate_text(raw.get("sku"), field="sku")
        line_errors.update(sku_errors)
        category = None
        if raw.get("category") is not None:
            category, category_errors = validate_text(raw.get("category"), field="category")
            line_errors.update(category_errors)
        quantity = _quantity(raw.get("quantity"))
        if quantity is None:
            line_errors["quantity"] = ["A valid integer is required."]
        elif quantity < 1:
            line_errors["quantity"] = ["Ensure this value is greater than or equal to 1."]
        unit_price = None
        if raw.get("unit_price") is not None:
            unit_price, price_errors = validate_amount(raw.get("unit_price"), field="unit_price")
            line_errors.update(price_errors)
        if not line_errors:
            items.append(RefundItem(sku=sku, quantity=quantity, unit_price=unit_price, category=category))  # type: ignore[arg-type]
    if any(errors):
        raise RefundInvalid({"items": errors})
    return items


def remaining_lines(bought: Sequence[Line], refunded: Sequence[Sequence[Line]]) -> list[Line]:
    """The bought lines minus every earlier refund's lines (each refund's lines are bought lines with
    their refunded quantity, in the order `take` produced them); lines left at 0 are dropped."""
    left = [dict(line) for line in bought]
    for lines in refunded:
        for taken in lines:
            index = taken["line"]
            left[index]["quantity"] -= taken["quantity"]
    return [line | {"line": i} for i, line in enumerate(left) if line["quantity"] > 0]


def take(
    bought: Sequence[Line], remaining: Sequence[Line], items: list[RefundItem] | None
) -> tuple[list[Line], list[Line]]:
    """`(refunded, left)`: the lines a request takes back (with `line`, the bought line's index) and the
    lines left after it. `items` None takes everything left. Raises `RefundInvalid` (400) or
    `RefundExceedsRemaining` (409); a request that takes nothing (all already refunded) is a 409 too."""
    left = {line["line"]: dict(line) for line in remaining}
    if items is None:
        if not left:
            raise RefundExceedsRemaining({"items": ["This purchase is already refunded in full."]})
        refunded = [dict(line) for line in left.values()]
        return refunded, []
    invalid: list[dict[str, Any]] = []
    exceeds: list[dict[str, Any]] = []
    # What the request itself has named so far, per bought line (two items may name the same line).
    unnamed = [line["quantity"] for line in bought]
    taken: dict[int, int] = {}
    for item in items:
        matching = [i for i, line in enumerate(bought) if item.matches(line)]
        if not matching:
            invalid.append({"sku": ["This purchase has no such line."]})
            exceeds.append({})
            continue
        if item.quantity > sum(unnamed[i] for i in matching):
            invalid.append({"quantity": ["Ensure this is no more than the quantity bought."]})
            exceeds.append({})
            continue
        invalid.append({})
        need = item.quantity
        for i in matching:
            step = min(need, unnamed[i])
            unnamed[i] -= step
            need -= step
        need = item.quantity
        for i in matching:
            available = left[i]["quantity"] - taken.get(i, 0) if i in left else 0
            step = min(need, available)
            if step > 0:
                taken[i] = taken.get(i, 0) + step
                need -= step
        exceeds.append(
            {"quantity": ["Ensure this is no more than what is left after earlier refunds."]} if need else {}
        )
    if any(invalid):
        raise RefundInvalid({"items": invalid})
    if any(exceeds):
        raise RefundExceedsRemaining({"items": exceeds})
    refunded = [dict(left[index], quantity=quantity) for index, quantity in sorted(taken.items())]
    after = []
    for index, line in sorted(left.items()):
        quantity = line["quantity"] - taken.get(index, 0)
        if quantity > 0:
            after.append(dict(line, quantity=quantity))
    return refunded, after


def request_hash(items: list[RefundItem] | None) -> str:
    """sha256 of the canonical request: an `Idempotency-Key` replayed with another body is a 409."""
    canonical = None if items is None else [item.as_json() for item in items]
    return hashlib.sha256(orjson.dumps(canonical)).hexdigest()
