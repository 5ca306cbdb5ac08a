"""This app as the evaluation's dispatch sender (`purchases.handoff`), registered at start-up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.delivery import BatchResult
from purchases import handoff


class PartnerDispatchSender:
    def create_claimed(self, *, eligible: Sequence[handoff.EligibleDispatch], now: datetime):
        from dispatches.claims import dispatch_create_claimed

        return dispatch_create_claimed(eligible=eligible, now=now)

    def send_claimed(self, handover) -> BatchResult:
        from dispatches.services import dispatch_send_claimed

        return dispatch_send_claimed(claimed=handover.claimed, claim_token=handover.claim_token)

    def schedule_retries(self, retry_soon: list[tuple[str, float]]) -> None:
        from dispatches.tasks import schedule_short_retries

        schedule_short_retries(retry_soon)

    def withdraw(self, *, pairs: Sequence[handoff.WithdrawnPair], now: datetime) -> list[handoff.Withdrawal]:
        from dispatches.retractions import dispatches_withdraw

        return dispatches_withdraw(pairs=pairs, now=now)


def register() -> None:
    handoff.register(PartnerDispatchSender())
