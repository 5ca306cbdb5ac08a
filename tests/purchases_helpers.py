"""Minimal committed-shape purchases for tests of other apps (the purchases app has its own factories)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.utils import timezone

from purchases.models import Purchase

_sequence = itertools.count(1)


def make_purchase(**overrides) -> Purchase:
    number = next(_sequence)
    values = {
        "external_id": f"helper-{number}-{timezone.now().timestamp()}",
        "customer_id": f"customer-{number}",
        "channel": "in_store",
        "purchased_at": timezone.now(),
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "category": "food", "quantity": 1, "unit_price": "60.00"}],
        "total": Decimal("60.00"),
        "body_hash": "0" * 64,
    }
    values.update(overrides)
    return Purchase.objects.create(**values)
