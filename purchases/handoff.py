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
"""

from __future__ import annotations

from collections.abc import Sequence
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


_sender: DispatchSender | None = None


def register(sender: DispatchSender) -> None:
    global _sender
    _sender = sender


def sender() -> DispatchSender:
    if _sender is None:
        raise ImproperlyConfigured("no dispatch sender registered: is the `dispatches` app installed?")
    return _sender
