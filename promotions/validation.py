"""Parsing the bodies of the promo code API (pure: no ORM). Errors are `{field: [messages]}`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from campaigns.rules import PurchaseLine
from core.exceptions import ApplicationError
from core.money import is_iso_4217
from purchases.validation import CHANNELS, validate_amount, validate_items, validate_text

MODES = ("reserve", "commit")
DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 3600
MAX_ROLLBACK_REASON = 200


@dataclass(frozen=True, slots=True)
class Order:
    currency: str
    lines: tuple[PurchaseLine, ...]
    total: Decimal
    channel: str
    store_id: str
    items: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "total": format(self.total.normalize(), "f"),
            "channel": self.channel,
            "store_id": self.store_id,
            "items": [
                {**item, "unit_price": format(item["unit_price"].normalize(), "f")} for item in self.items
            ],
        }


@dataclass(frozen=True, slots=True)
class CodeRequest:
    code: str
    customer_id: str
    order: Order


@dataclass(frozen=True, slots=True)
class RedemptionRequest:
    code: str
    customer_id: str
    order: Order
    order_ref: str
    mode: str
    ttl_seconds: int
    body_hash: str


def invalid(fields: dict[str, Any]) -> ApplicationError:
    """400 with the errors by field (nested for the order and its items, as purchases report them)."""
    return ApplicationError("The request is not valid.", code="invalid", fields=fields)


def parse_order(value: Any, errors: dict[str, Any]) -> Order | None:
    if not isinstance(value, dict):
        errors["order"] = ['Expected an object {"currency", "items", "total"?}.']
        return None
    order_errors: dict[str, Any] = {}
    currency = value.get("currency")
    if not isinstance(currency, str) or not is_iso_4217(currency):
        order_errors["currency"] = [f'"{currency}" is not an ISO 4217 currency code (e.g. "EUR").']
    items, item_errors = validate_items(value.get("items"))
    order_errors.update(item_errors)
    total = None
    if value.get("total") is not None:
        total, total_errors = validate_amount(value.get("total"), field="total")
        order_errors.update(total_errors)
    channel = value.get("channel") or "ecommerce"
    if channel not in CHANNELS:
        order_errors["channel"] = [f'"{channel}" is not a valid choice (in_store, ecommerce).']
    store_id, store_errors = validate_text(value.get("store_id"), field="store_id", required=False)
    order_errors.update(store_errors)
    if not order_errors and items is not None:
        lines_sum = sum((item["quantity"] * item["unit_price"] for item in items), Decimal(0))
        if total is not None and total != lines_sum:
            order_errors["total"] = [f"The total {total} is not the sum of the lines ({lines_sum})."]
        total = lines_sum
    if order_errors:
        errors["order"] = order_errors
        return None
    return Order(
        currency=currency,
        lines=tuple(
            PurchaseLine(item["sku"], item["category"], item["quantity"], item["unit_price"])
            for item in items
        ),
        total=total,
        channel=channel,
        store_id=store_id or "",
        items=items,
    )


def _common(data: Any) -> tuple[dict[str, Any], str | None, str | None, Order | None]:
    if not isinstance(data, dict):
        raise invalid({"non_field_errors": ["Expected a JSON object."]})
    errors: dict[str, Any] = {}
    code, code_errors = validate_text(data.get("code"), field="code")
    errors.update(code_errors)
    customer_id, customer_errors = validate_text(data.get("customer_id"), field="customer_id")
    errors.update(customer_errors)
    order = parse_order(data.get("order"), errors)
    return errors, code, customer_id, order


def parse_code_request(data: Any) -> CodeRequest:
    """`POST /codes/validate/`: `{"code", "customer_id", "order": {"total"?, "currency", "items"}}`."""
    errors, code, customer_id, order = _common(data)
    if errors:
        raise invalid(errors)
    return CodeRequest(code=code, customer_id=customer_id, order=order)  # type: ignore[arg-type]


def parse_redemption_request(data: Any) -> RedemptionRequest:
    """`POST /redemptions/`: the validate body plus `order_ref`, `mode` (default reserve), `ttl_seconds`."""
    errors, code, customer_id, order = _common(data)
    order_ref, ref_errors = validate_text(data.get("order_ref"), field="order_ref", required=False)
    errors.update(ref_errors)
    mode = data.get("mode", "reserve")
    if mode not in MODES:
        errors["mode"] = ['Must be "reserve" or "commit".']
    ttl = data.get("ttl_seconds", DEFAULT_TTL_SECONDS)
    if isinstance(ttl, bool) or not isinstance(ttl, int | Decimal) or not (1 <= ttl <= MAX_TTL_SECONDS):
        errors["ttl_seconds"] = [f"An integer from 1 to {MAX_TTL_SECONDS} (seconds) is required."]
    elif ttl != int(ttl):
        errors["ttl_seconds"] = [f"An integer from 1 to {MAX_TTL_SECONDS} (seconds) is required."]
    if errors:
        raise invalid(errors)
    canonical = {
        "code": code.upper(),  # type: ignore[union-attr]
        "customer_id": customer_id,
        "order": order.as_json(),  # type: ignore[union-attr]
        "order_ref": order_ref or "",
        "mode": mode,
        "ttl_seconds": int(ttl),
    }
    body_hash = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return RedemptionRequest(
        code=code,  # type: ignore[arg-type]
        customer_id=customer_id,  # type: ignore[arg-type]
        order=order,  # type: ignore[arg-type]
        order_ref=order_ref or "",
        mode=mode,
        ttl_seconds=int(ttl),
        body_hash=body_hash,
    )


def parse_idempotency_key(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid({"Idempotency-Key": ["The Idempotency-Key header is required."]})
    key = value.strip()
    if len(key) > 200 or "\x00" in key:
        raise invalid({"Idempotency-Key": ["At most 200 characters, no NUL."]})
    return key


def parse_rollback_reason(data: Any) -> str:
    reason = data.get("reason", "") if isinstance(data, dict) else ""
    if reason is None:
        reason = ""
    if not isinstance(reason, str) or len(reason) > MAX_ROLLBACK_REASON or "\x00" in reason:
        raise invalid({"reason": [f"A text of at most {MAX_ROLLBACK_REASON} characters."]})
    return reason.strip()
