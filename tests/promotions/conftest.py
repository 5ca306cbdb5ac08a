from __future__ import annotations

import itertools
from typing import Any

import pytest

from campaigns.snapshots import clear_snapshot_cache

_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_snapshot_cache():
    clear_snapshot_cache()
    yield
    clear_snapshot_cache()


def order(*lines: tuple[str, str, int, str], currency: str = "EUR") -> dict[str, Any]:
    """`order(("SKU-A", "toys", 2, "20.00"), ...)`: an order body."""
    return {
        "currency": currency,
        "items": [
            {"sku": sku, "category": category, "quantity": quantity, "unit_price": price}
            for sku, category, quantity, price in lines
        ],
    }


DEFAULT_ORDER = order(("SKU-A", "toys", 2, "20.00"), ("SKU-B", None, 1, "20.00"))


def redemption_body(code: str, customer_id: str = "cust-1", **overrides: Any) -> dict[str, Any]:
    body = {
        "code": code,
        "customer_id": customer_id,
        "order_ref": "order-1",
        "order": DEFAULT_ORDER,
        "mode": "reserve",
    }
    body.update(overrides)
    return body


def new_key() -> str:
    return f"key-{next(_keys)}-{id(object())}"
