"""Hooks between apps that may not import each other (ARCHITECTURE.md layers, ADR 0011).

Like the tenant URLconf, this module is the composition root: it alone imports apps of any layer
(import-linter ignores `config.wiring -> **`). Each hook is a registry of the lower app that the
higher one fills, here, once at start-up (`CompositionRootConfig.ready`).
"""

from __future__ import annotations

REFUND_ROLLBACK_REASON = "purchase_refunded"


def rollback_redemptions_of_refunded_purchase(*, actor: str, external_id: str) -> None:
    """A purchase refunded in full gives its promo-code uses back (SPEC §12: order_ref = external_id)."""
    from promotions.services import redemptions_rollback_for_order

    redemptions_rollback_for_order(actor=actor, order_ref=external_id, reason=REFUND_ROLLBACK_REASON)


def connect() -> None:
    from purchases import handoff

    # purchases (refunds) sits below promotions (redemptions): promotions listens, through the hook.
    handoff.on_purchase_refunded(rollback_redemptions_of_refunded_purchase)
