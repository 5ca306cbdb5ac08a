"""Reads of the purchase pipeline."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from core.exceptions import NotFoundError
from core.money import money_str
from purchases.models import Evaluation, Purchase


def purchase_get(*, external_id: str) -> Purchase:
    """The purchase with its evaluations and dispatches (three queries), or 404."""
    purchase = (
        Purchase.objects.filter(external_id=external_id)
        .prefetch_related(
            Prefetch("evaluations", queryset=Evaluation.objects.order_by("campaign_id")),
            # The dispatches of the purchase (`dispatches` app, above this one: read through the relation).
            "dispatches",
        )
        .first()
    )
    if purchase is None:
        raise NotFoundError(f"No purchase with external_id {external_id!r}.")
    return purchase


def purchase_detail(*, purchase: Purchase) -> dict[str, Any]:
    """SPEC §2 shape of `GET /purchases/{external_id}/` (also the body of a duplicate POST)."""
    currency = purchase.currency
    return {
        "external_id": purchase.external_id,
        "customer_id": purchase.customer_id,
        "channel": purchase.channel,
        "purchased_at": purchase.purchased_at.isoformat().replace("+00:00", "Z"),
        "currency": currency,
        "store_id": purchase.store_id or None,
        "items": [
            {
                "sku": item["sku"],
                "category": item.get("category"),
                "quantity": item["quantity"],
                # As sent (exact, canonical spelling): a unit price may be finer than the minor unit.
                "unit_price": item["unit_price"],
            }
            for item in purchase.items
        ],
        # Stored exactly, rendered half up to the minor unit: the string the partner receives.
        "total": money_str(purchase.total, currency),
        "evaluations": [
            {
                "campaign_id": evaluation.campaign_id,
                "campaign_version": evaluation.campaign_version,
                "eligible": evaluation.eligible,
                # Same currency as the purchase unless the reason is currency_mismatch (value 0).
                "eligible_value": money_str(evaluation.eligible_value, currency),
                "reason": evaluation.reason,
            }
            for evaluation in purchase.evaluations.all()
        ],
        "dispatches": [
            {
                "id": str(dispatch.id),
                "campaign_id": dispatch.campaign_id,
                "status": dispatch.status,
                "attempts": dispatch.attempts,
            }
            for dispatch in sorted(purchase.dispatches.all(), key=lambda d: (d.campaign_id, d.created_at))
        ],
    }
