"""Validation and canonical form of an incoming purchase (SPEC §2 purchase fields).

Pure Python, no ORM: the batch endpoint validates up to 1,000 purchases per
request, and a DRF serializer per purchase (nested items) costs ~0.5 ms each,
more than the rest of the pipeline together. One validator serves the single
and the batch endpoints, so both answer the same errors.

Money never passes through a float: the API parses JSON numbers as `Decimal`
(`purchases.api.DecimalJSONParser`), and strings are read with `Decimal(str)`.

The canonical form (`ValidPurchase.canonical`) is what is hashed for
idempotency: key order, number spelling ("10", "10.0", 10) and an omitted
`total` (which then equals the sum of the lines) do not make two bodies differ;
any change of a value does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import orjson

from core.money import is_iso_4217, quantum_for

CHANNELS = frozenset({"in_store", "ecommerce"})
MAX_ID_LENGTH = 200
MAX_ITEMS = 1000
# Purchase.total is numeric(18, 4): at most 14 integer digits and 4 decimals.
MAX_DECIMAL_PLACES = 4
MAX_AMOUNT = Decimal(10) ** 14
MAX_QUANTITY = 1_000_000

Errors = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ValidPurchase:
    external_id: str
    customer_id: str
    channel: str
    purchased_at: datetime
    currency: str
    store_id: str
    # [{"sku", "category", "quantity": int, "unit_price": str}] as stored in Purchase.items
    items: list[dict[str, Any]]
    total: Decimal
    body_hash: str


def canonical_json(document: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes that are hashed for idempotency.

    orjson, ~10× faster than the standard library on the ingestion path, writes
    exactly the bytes of `json.dumps(document, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode()` for what a canonical purchase holds (str, int,
    None, lists and dicts of them), so hashes stored before the switch still match
    (property-tested in tests/purchases/test_validation.py).
    """
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def canonical_amount(value: Decimal, currency: str) -> str:
    """The exact spelling of an incoming amount: at least the currency's minor unit, no trailing zeros beyond.

    "12.5" EUR → "12.50"; "0.0125" EUR → "0.0125"; "3.0000" JPY → "3". It never
    rounds: unit prices may carry more decimals than their currency, this string is
    what `Purchase.items` stores and what the idempotency hash covers, and the line
    sums must stay exact. Rounding to the minor unit is for rendering totals
    (`core.money.money_str`).
    """
    sign, _, exponent = value.as_tuple()
    if not sign and exponent == _minor_exponent(currency):
        # Already canonical ("12.50" EUR: the usual case); normalising then re-quantising gives it back.
        return format(value, "f")
    normalized = value.normalize()
    if normalized == 0:
        normalized = Decimal(0)
    if normalized.as_tuple().exponent > _minor_exponent(currency):  # type: ignore[operator]
        normalized = normalized.quantize(_quantum(currency))
    return format(normalized, "f")


@lru_cache(maxsize=512)
def _quantum(currency: str) -> Decimal:
    """The currency's minor unit (0.01 for a code that is not ISO 4217)."""
    return quantum_for(currency) if is_iso_4217(currency) else Decimal("0.01")


@lru_cache(maxsize=512)
def _minor_exponent(currency: str) -> int:
    return _quantum(currency).as_tuple().exponent  # type: ignore[return-value]


def _text(value: Any, *, required: bool, errors: Errors, field: str) -> str | None:
    if type(value) is str:  # fast path: a clean string, the usual case (up to 11,000 per batch)
        text = value.strip()
        if text and len(text) <= MAX_ID_LENGTH and "\x00" not in text:
            return text
    if value is None or value == "":
        if required:
            errors[field] = ["This field is required."]
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors[field] = ["Must be a string."]
        return None
    text = str(value).strip()
    if not text:
        if required:
            errors[field] = ["This field may not be blank."]
        return None
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail the insert.
        errors[field] = ["Must not contain NUL characters."]
        return None
    if len(text) > MAX_ID_LENGTH:
        errors[field] = [f"Ensure this field has no more than {MAX_ID_LENGTH} characters."]
        return None
    return text


def _decimal(value: Any, *, errors: Errors, field: str) -> Decimal | None:
    """A decimal ≥ 0 given as a JSON number (parsed as Decimal) or a string; never a float."""
    if type(value) is str:
        # Fast path: plain ASCII digits, at most 14 before the point and 4 after it, is a valid amount
        # as it is (no sign, exponent, NaN or spaces to check); anything else takes the full checks.
        whole, dot, fraction = value.partition(".")
        if (
            0 < len(whole) <= 14
            and whole.isascii()
            and whole.isdigit()
            and (
                not dot
                or (0 < len(fraction) <= MAX_DECIMAL_PLACES and fraction.isascii() and fraction.isdigit())
            )
        ):
            return Decimal(value)
    if isinstance(value, bool) or value is None:
        errors[field] = ["A valid decimal number is required."]
        return None
    if isinstance(value, float):
        # Only reachable if a caller bypassed DecimalJSONParser: refuse rather than round money.
        errors[field] = ["Send the amount as a JSON number parsed exactly, or as a string."]
        return None
    if isinstance(value, (Decimal, int)):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            errors[field] = ["A valid decimal number is required."]
            return None
    else:
        errors[field] = ["A valid decimal number is required."]
        return None
    if not number.is_finite():
        errors[field] = ["A valid decimal number is required."]
        return None
    if number < 0:
        errors[field] = ["Ensure this value is greater than or equal to 0."]
        return None
    if number >= MAX_AMOUNT:
        errors[field] = [f"Ensure this value is less than {MAX_AMOUNT}."]
        return None
    if number.normalize().as_tuple().exponent < -MAX_DECIMAL_PLACES:  # type: ignore[operator]
        errors[field] = [f"Ensure that there are no more than {MAX_DECIMAL_PLACES} decimal places."]
        return None
    return number


def _quantity(value: Any, errors: Errors) -> int | None:
    # Bounded before int(): a 5,000-digit string or 1E+999999 must be a 400, not a slow
    # conversion or Python's int-size ValueError.
    if isinstance(value, bool):
        quantity = None
    elif isinstance(value, int):
        quantity = value
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        quantity = int(value) if abs(value) <= MAX_QUANTITY else MAX_QUANTITY + 1
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        digits = value.strip()
        quantity = int(digits) if len(digits) <= 9 else MAX_QUANTITY + 1
    else:
        quantity = None
    if quantity is None:
        errors["quantity"] = ["A valid integer is required."]
        return None
    if quantity < 1:
        errors["quantity"] = ["Ensure this value is greater than or equal to 1."]
        return None
    if quantity > MAX_QUANTITY:
        errors["quantity"] = [f"Ensure this value is less than or equal to {MAX_QUANTITY}."]
        return None
    return quantity


def _datetime(value: Any, errors: Errors) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        errors["purchased_at"] = ["A valid ISO 8601 date-time is required."]
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        errors["purchased_at"] = ["A valid ISO 8601 date-time is required."]
        return None
    # A date-time without an offset is UTC (the platform's TIME_ZONE), as DRF would read it.
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _items(value: Any, errors: Errors) -> tuple[list[dict[str, Any]], list[Decimal]] | None:
    if not isinstance(value, list):
        errors["items"] = ["Expected a non-empty list of items."]
        return None
    if not value:
        errors["items"] = ["This list may not be empty."]
        return None
    if len(value) > MAX_ITEMS:
        errors["items"] = [f"Ensure this list has no more than {MAX_ITEMS} items."]
        return None
    items: list[dict[str, Any]] = []
    prices: list[Decimal] = []
    item_errors: list[Errors] = []
    failed = False
    for raw in value:
        line_errors: Errors = {}
        item_errors.append(line_errors)
        if not isinstance(raw, dict):
            line_errors["non_field_errors"] = ["Expected an object with sku, quantity and unit_price."]
            failed = True
            continue
        sku = _text(raw.get("sku"), required=True, errors=line_errors, field="sku")
        category = _text(raw.get("category"), required=False, errors=line_errors, field="category")
        quantity = _quantity(raw.get("quantity"), line_errors)
        unit_price = _decimal(raw.get("unit_price"), errors=line_errors, field="unit_price")
        if line_errors:
            failed = True
            continue
        items.append({"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price})
        prices.append(unit_price)  # type: ignore[arg-type]
    if failed:
        errors["items"] = item_errors
        return None
    return items, prices


def validate_purchase(data: Any) -> tuple[ValidPurchase | None, Errors]:
    """Validate one purchase body: `(ValidPurchase, {})` or `(None, {field: [messages]})`."""
    if not isinstance(data, dict):
        return None, {"non_field_errors": ["Expected a JSON object."]}
    errors: Errors = {}
    external_id = _text(data.get("external_id"), required=True, errors=errors, field="external_id")
    customer_id = _text(data.get("customer_id"), required=True, errors=errors, field="customer_id")
    channel = data.get("channel")
    if channel is None or channel == "":
        errors["channel"] = ["This field is required."]
    elif not isinstance(channel, str) or channel not in CHANNELS:
        errors["channel"] = [f'"{channel}" is not a valid choice (in_store, ecommerce).']
    purchased_at = _datetime(data.get("purchased_at"), errors)
    currency = data.get("currency")
    if currency is None or currency == "":
        errors["currency"] = ["This field is required."]
    elif not isinstance(currency, str) or not is_iso_4217(currency):
        errors["currency"] = [f'"{currency}" is not an ISO 4217 currency code (e.g. "EUR").']
    store_id = _text(data.get("store_id"), required=False, errors=errors, field="store_id") or ""
    parsed_items = _items(data.get("items"), errors)
    total: Decimal | None = None
    if data.get("total") is not None:
        total = _decimal(data.get("total"), errors=errors, field="total")
    if errors:
        return None, errors

    items, prices = parsed_items  # type: ignore[misc]
    lines_sum = sum((item["quantity"] * price for item, price in zip(items, prices, strict=True)), Decimal(0))
    if total is not None and total != lines_sum:
        return None, {"total": [f"The total {total} is not the sum of the lines ({lines_sum})."]}
    if lines_sum >= MAX_AMOUNT:
        return None, {"total": [f"The sum of the lines must be less than {MAX_AMOUNT}."]}
    for item in items:
        item["unit_price"] = canonical_amount(item["unit_price"], currency)  # type: ignore[arg-type]

    canonical = {
        "external_id": external_id,
        "customer_id": customer_id,
        "channel": channel,
        "purchased_at": purchased_at.isoformat(),  # type: ignore[union-attr]
        "currency": currency,
        "store_id": store_id,
        "items": items,
        "total": format(lines_sum.normalize(), "f"),
    }
    body_hash = hashlib.sha256(canonical_json(canonical)).hexdigest()
    return (
        ValidPurchase(
            external_id=external_id,  # type: ignore[arg-type]
            customer_id=customer_id,  # type: ignore[arg-type]
            channel=channel,  # type: ignore[arg-type]
            purchased_at=purchased_at,  # type: ignore[arg-type]
            currency=currency,  # type: ignore[arg-type]
            store_id=store_id,
            items=items,
            total=lines_sum,
            body_hash=body_hash,
        ),
        {},
    )


def validate_items(value: Any) -> tuple[list[dict[str, Any]] | None, Errors]:
    """The `items` of a purchase-like body (promo code orders): `(items, {})` or `(None, {"items": …})`.

    The same rules and messages as a purchase's items; `unit_price` stays a Decimal.
    """
    errors: Errors = {}
    parsed = _items(value, errors)
    return (parsed[0] if parsed else None), errors


def validate_amount(value: Any, *, field: str) -> tuple[Decimal | None, Errors]:
    """An amount ≥ 0 as purchases accept it (JSON number parsed as Decimal, or a string)."""
    errors: Errors = {}
    return _decimal(value, errors=errors, field=field), errors


def validate_text(value: Any, *, field: str, required: bool = True) -> tuple[str | None, Errors]:
    """An id-like text field as purchases accept it (stripped, ≤ 200 characters, no NUL)."""
    errors: Errors = {}
    return _text(value, required=required, errors=errors, field=field), errors
