"""The hand-over of eligible (purchase, campaign) pairs to the app that sends them to partners.

Evaluation (this app) decides which pairs are eligible; `dispatches`, which sits
above it, sends them. So that this app never imports the one above it, the
sender registers itself here when Django starts (`DispatchesConfig.ready`), and
the evaluation calls it in two steps:

1. `create_claimed`, inside the evaluation's transaction: one dispatch row per
   pair (unique per pair, so a repeated evaluation never creates a second one),
   already claimed for its first attempt;
2. `send_claimed`, once that transaction has committed: the first attempt of
   those rows, from the same task.

The rows are the durable record: if the worker dies between 1 and 2, or the send
fails, their lease expires and the sender's sweep sends them (ADR 0006).

A refund (`purchases.services.purchase_refund`) hands over the other way what it
takes back: `withdraw`, in the refund's transaction, cancels the unsent dispatch of
each pair that is no longer eligible, or queues a signed `purchase.retracted`
message for one already sent (ADR 0025). Apps above this one that must react to a
refund (promotions: the order's redemptions) register with `on_purchase_refunded`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from core.delivery import BatchResult


@dataclass(frozen=True, slots=True)
class PurchaseFields:
    """What a SPEC §5 body says of the purchase."""

    external_id: str
    customer_id: str
    channel: str
    purchased_at: datetime
    currency: str
    total: Decimal


@dataclass(frozen=True, slots=True)
class EligibleDispatch:
    """An eligible (purchase, campaign) pair handed over by the evaluation, with what its body needs."""

    purchase_id: int
    campaign_id: int
    partner_id: int
    campaign_version: int
    eligible_value: Decimal
    purchase: PurchaseFields


@dataclass(frozen=True, slots=True)
class WithdrawnPair:
    """A (purchase, campaign) pair that was eligible and is not any more, after a refund."""

    purchase_id: int
    campaign_id: int
    campaign_version: int
    eligible_value: Decimal  # of the lines left after the refund
    reason: str


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """What became of a withdrawn pair's dispatch: `retracted`, `cancelled`, or `none` (no dispatch, or
    dead: nothing reached the partner)."""

    campaign_id: int
    dispatch: str
    dispatch_id: str | None = None
    retraction_id: str | None = None


RETRACTED, CANCELLED, NOTHING_SENT = "retracted", "cancelled", "none"


class Handover(Protocol):
    """What `create_claimed` wrote: the rows created, and those claimed for their first attempt."""

    created: Sequence[object]
    claimed: Sequence[object]


@dataclass(frozen=True)
class NothingHandedOver:
    created: tuple = ()
    claimed: tuple = ()


NOTHING_HANDED_OVER = NothingHandedOver()


class DispatchSender(Protocol):
    def create_claimed(self, *, eligible: Sequence[EligibleDispatch], now: datetime) -> Handover: ...

    def send_claimed(self, handover: Handover) -> BatchResult: ...

    def schedule_retries(self, retry_soon: list[tuple[str, float]]) -> None: ...

    def withdraw(self, *, pairs: Sequence[WithdrawnPair], now: datetime) -> list[Withdrawal]: ...


_sender: DispatchSender | None = None


def register(sender: DispatchSender) -> None:
    global _sender
    _sender = sender


def sender() -> DispatchSender:
    if _sender is None:
        raise ImproperlyConfigured("no dispatch sender registered: is the `dispatches` app installed?")
    return _sender


# Called in the refund's transaction with the purchase's `external_id` once nothing of it is left.
PurchaseRefundedListener = Callable[..., None]
_refund_listeners: list[PurchaseRefundedListener] = []


def on_purchase_refunded(listener: PurchaseRefundedListener) -> None:
    """Register `listener(*, actor, external_id)`, called when a purchase is refunded in full."""
    if listener not in _refund_listeners:
        _refund_listeners.append(listener)


def purchase_refunded_listeners() -> tuple[PurchaseRefundedListener, ...]:
    return tuple(_refund_listeners)
