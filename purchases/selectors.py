"""Reads of the purchase pipeline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Prefetch, Q

from campaigns.rules import STATUS_PAUSED, Explanation, Reason, compile_campaign
from campaigns.snapshots import campaign_snapshot
from core.exceptions import NotFoundError
from core.money import money_str
from purchases.facts import purchase_facts
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


@dataclass(frozen=True)
class ExplainedEvaluation:
    """A stored evaluation next to the engine's line-by-line explanation of it.

    ``explained_version`` is the campaign version whose rules the explanation used: the
    evaluated one when it is still the campaign's current version, else the current one
    (older versions are not kept), and then ``same_version`` is False. ``agrees`` says
    whether the explanation reaches the stored verdict and value.
    """

    evaluation: Evaluation
    explanation: Explanation
    explained_version: int

    @property
    def same_version(self) -> bool:
        return self.explained_version == self.evaluation.campaign_version

    @property
    def agrees(self) -> bool:
        result = self.explanation.result
        return (
            result.eligible == self.evaluation.eligible
            and (result.reason or None) == (self.evaluation.reason or None)
            and result.eligible_value == self.evaluation.eligible_value
        )


def purchase_evaluations_explained(*, purchase: Purchase) -> list[ExplainedEvaluation]:
    """Each evaluation of `purchase`, explained by the rules engine with the campaign's rules.

    The status is taken from the stored verdict, not from the campaign now: pausing a
    campaign does not change its version, and a purchase evaluated while it was active must
    be explained as it was evaluated (`campaign_not_active` is the only status-made verdict).
    """
    facts = purchase_facts(purchase.purchased_at, purchase.channel, purchase.currency, purchase.items)
    explained = []
    for evaluation in purchase.evaluations.order_by("campaign_id"):
        compiled = campaign_snapshot(campaign_id=evaluation.campaign_id)
        was_paused = evaluation.reason == Reason.CAMPAIGN_NOT_ACTIVE
        if (compiled.spec.status == STATUS_PAUSED) != was_paused:
            status = STATUS_PAUSED if was_paused else "active"
            compiled = compile_campaign(replace(compiled.spec, status=status))
        explained.append(ExplainedEvaluation(evaluation, compiled.explain(facts), compiled.version))
    return explained


def prefix_q(field: str, prefix: str) -> Q:
    """`field` starts with `prefix` (case-sensitive), as a range a plain btree index serves.

    `LIKE 'prefix%'` uses a btree only under the "C" collation or with a
    `varchar_pattern_ops` index (ADR 0015): the range `>= prefix AND < prefix + U+10FFFF`
    is read from the column's ordinary index under a code-point collation (C, C.UTF-8), and
    the `startswith` that follows keeps the answer exact under any collation.
    """
    return Q(
        **{f"{field}__gte": prefix, f"{field}__lt": prefix + "\U0010ffff", f"{field}__startswith": prefix}
    )
