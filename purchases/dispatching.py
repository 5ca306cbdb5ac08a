"""The boundary between evaluation (this app) and partner dispatch (`partners`).

Evaluation hands every eligible (purchase, campaign) pair over here in two steps:

1. inside the evaluation's transaction, `partners_dispatches_create` writes a
   Dispatch row per pair (unique per pair, so a repeated evaluation never
   creates a second one), already claimed for its first attempt (lease, attempt
   counter);
2. once that transaction has committed, `partners_dispatches_send` sends the
   claimed dispatches from the same task and records each outcome.

The Dispatch rows are the durable record: if the worker dies between 1 and 2,
or the send fails, the lease expires and the beat sweep
(`partners.send_due_dispatches`) sends them, with the same Idempotency-Key.
Everything after the first attempt — retries, dead letters, replay — is
`partners.dispatch`'s job. (Until the Performance amendment of ADR 0006, step 1
wrote pending rows plus an outbox message `partners.send_dispatches`, and a
second task claimed and sent them.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from partners.dispatch import (
    BatchResult,
    CreatedDispatches,
    EligibleDispatch,
    PurchaseFields,
    dispatch_create_claimed,
    dispatch_send_claimed,
)

__all__ = [
    "BatchResult",
    "CreatedDispatches",
    "EligibleDispatch",
    "PurchaseFields",
    "partners_dispatches_create",
    "partners_dispatches_send",
]


def partners_dispatches_create(*, eligible: Sequence[EligibleDispatch], now: datetime) -> CreatedDispatches:
    """Create (claimed) the dispatches of eligible pairs; call inside the evaluation's transaction."""
    return dispatch_create_claimed(eligible=eligible, now=now)


def partners_dispatches_send(created: CreatedDispatches) -> BatchResult:
    """Send what `partners_dispatches_create` claimed; call after its transaction committed."""
    return dispatch_send_claimed(claimed=created.claimed, claim_token=created.claim_token)
