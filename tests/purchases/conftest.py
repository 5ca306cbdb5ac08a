from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from campaigns.snapshots import clear_snapshot_cache
from tests.support.committed import in_committed_connection

_sequence = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_snapshot_cache():
    # Tests edit campaigns through the ORM without bumping versions; start each from an empty cache.
    clear_snapshot_cache()
    yield
    clear_snapshot_cache()


def purchase_body(**overrides: Any) -> dict[str, Any]:
    """A valid purchase body (60.00 EUR, in store, an hour ago) with a unique external_id."""
    body: dict[str, Any] = {
        "external_id": f"ext-{timezone.now().timestamp()}-{next(_sequence)}",
        "customer_id": "cust-1",
        "channel": "in_store",
        "purchased_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "currency": "EUR",
        "store_id": "store-9",
        "items": [
            {"sku": "SKU-A", "category": "toys", "quantity": 2, "unit_price": "20.00"},
            {"sku": "SKU-B", "quantity": 1, "unit_price": "20.00"},
        ],
        "total": "60.00",
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_purchase_body():
    return purchase_body


def D(value: str) -> Decimal:
    return Decimal(value)


def in_own_connection(test_database: str, work: Callable[[], Any]) -> Any:
    """Run `work` on a new database connection that commits (see tests/support/committed.py)."""

    def on_test_database() -> Any:
        connections["default"].settings_dict["NAME"] = test_database
        return work()

    return in_committed_connection(on_test_database)
