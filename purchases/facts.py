"""A stored purchase as the rules engine reads it (one translation, for the evaluation and its explanation)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from campaigns.rules import PurchaseFacts, PurchaseLine


def purchase_facts(
    purchased_at: datetime, channel: str, currency: str, items: list[dict[str, Any]], **targeting: Any
) -> PurchaseFacts:
    """`targeting` (customer, total, store_id, evaluated_at) only when a campaign of the batch targets
    customers: untargeted batches build the plain facts."""
    return PurchaseFacts(
        purchased_at=purchased_at,
        channel=channel,
        currency=currency,
        **targeting,
        lines=tuple(
            PurchaseLine(
                item["sku"], item.get("category"), int(item["quantity"]), Decimal(str(item["unit_price"]))
            )
            for item in items
        ),
    )
