"""The SPEC §5 body of a dispatch, and its exact bytes."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from campaigns.currencies import is_iso_4217, quantum_for
from dispatches.models import Dispatch
from purchases.handoff import PurchaseFields
from purchases.models import Evaluation

logger = logging.getLogger(__name__)


def _money(value: Decimal, currency: str) -> str:
    if is_iso_4217(currency):
        value = value.quantize(quantum_for(currency))
    return str(value)


def _iso8601(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dispatch_payload(*, dispatch: Dispatch, evaluation: Evaluation, tenant: str) -> dict[str, Any]:
    """The SPEC §5 body: version and eligible value come from the evaluation that made it eligible."""
    purchase = dispatch.purchase
    return purchase_eligible_payload(
        dispatch_id=dispatch.id,
        tenant=tenant,
        campaign_id=dispatch.campaign.id,
        campaign_name=dispatch.campaign.name,
        campaign_version=evaluation.campaign_version,
        purchase=PurchaseFields(
            external_id=purchase.external_id,
            customer_id=purchase.customer_id,
            channel=purchase.channel,
            purchased_at=purchase.purchased_at,
            currency=purchase.currency,
            total=purchase.total,
        ),
        eligible_value=evaluation.eligible_value,
    )


def purchase_eligible_payload(
    *,
    dispatch_id: uuid.UUID,
    tenant: str,
    campaign_id: int,
    campaign_name: str,
    campaign_version: int,
    purchase: PurchaseFields,
    eligible_value: Decimal,
) -> dict[str, Any]:
    return {
        "type": "purchase.eligible",
        "dispatch_id": str(dispatch_id),
        "tenant": tenant,
        "campaign": {"id": campaign_id, "name": campaign_name, "version": campaign_version},
        "purchase": {
            "external_id": purchase.external_id,
            "customer_id": purchase.customer_id,
            "channel": purchase.channel,
            "purchased_at": _iso8601(purchase.purchased_at),
            "currency": purchase.currency,
            "total": _money(purchase.total, purchase.currency),
            "eligible_value": _money(eligible_value, purchase.currency),
        },
    }


def encode_body(payload: dict[str, Any]) -> bytes:
    """Compact JSON, ASCII-only: the exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
