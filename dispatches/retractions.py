"""Withdrawing rewards of refunded purchases (SPEC §12): cancel what was not sent, retract what was.

`dispatches_withdraw` runs in the refund's transaction (`purchases.handoff.DispatchSender.withdraw`):
for each (purchase, campaign) pair no longer eligible, its dispatch

* `sent` → a `Retraction` row, sent to the partner as a signed `purchase.retracted` message;
* `pending` / `retrying` → dead, with the reason, and its claim cleared: an attempt in flight is
  fenced off (its outcome is not recorded), and since it may have reached the partner, a retraction
  is queued for it as well;
* `dead` (or no dispatch) → nothing reached the partner: nothing to do.

Retractions go through the dispatch machinery's parts: the same claim lease and attempt counter
before sending, the same Standard Webhooks signing with the partner's secret (`webhook-id` and
`Idempotency-Key` = the retraction id), the same client, the same reading of the answer
(`dispatches.policy.classify_response`: 2xx sent; 408/429/5xx/timeouts retried with back-off up to the
partner's `max_attempts`, then dead; other 4xx dead) and an attempt row per attempt. The first send is
an outbox message written with the rows; due retries and lost leases are sent by the partner dispatch
sweep of the maintenance tick (`send_due_dispatches_task`). Dead retractions are replayed from the
admin (`retraction_replay`).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import task_names
from core.delivery import BatchResult, excerpt
from core.http import client
from core.http.signing import signed_headers
from core.money import money_str
from dispatches.claims import ClaimedDispatch, claimed_dispatch, mark_dead, normalise_ids
from dispatches.models import Dispatch, DispatchAttempt, Retraction, RetractionAttempt
from dispatches.payload import _iso8601
from dispatches.policy import classify_response, send_concurrency
from outbox.services import outbox_enqueue
from purchases import handoff

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
STUCK_PENDING_AFTER = timedelta(minutes=1)
SWEEP_LIMIT = 200
CANCELLED_ERROR = "cancelled: the purchase was refunded before the reward was sent"
OPEN = (Retraction.Status.PENDING, Retraction.Status.RETRYING)


def dispatches_withdraw(*, pairs: Sequence[handoff.WithdrawnPair], now: datetime) -> list[handoff.Withdrawal]:
    """Cancel or retract the dispatches of `pairs` (one purchase's), in the caller's transaction."""
    if not pairs:
        return []
    (purchase_id,) = {pair.purchase_id for pair in pairs}
    rows = {
        row.campaign_id: row
        for row in Dispatch.objects.select_for_update().filter(
            purchase_id=purchase_id, campaign_id__in=[pair.campaign_id for pair in pairs]
        )
    }
    outcomes: list[handoff.Withdrawal] = []
    retractions: list[Retraction] = []
    for pair in pairs:
        row = rows.get(pair.campaign_id)
        if row is None or row.status == Dispatch.Status.DEAD:
            outcomes.append(
                handoff.Withdrawal(pair.campaign_id, handoff.NOTHING_SENT, str(row.id) if row else None)
            )
            continue
        if row.status == Dispatch.Status.SENT:
            retraction = _retraction_for(row, pair, now)
            retractions.append(retraction)
            outcomes.append(
                handoff.Withdrawal(pair.campaign_id, handoff.RETRACTED, str(row.id), str(retraction.id))
            )
            continue
        in_flight = row.claimed_until is not None and row.claimed_until > now
        mark_dead(row, CANCELLED_ERROR)
        row.updated_at = now
        row.save(
            update_fields=[
                "status",
                "last_error",
                "next_attempt_at",
                "claimed_until",
                "claim_token",
                "updated_at",
            ]
        )
        retraction_id = None
        if in_flight:  # its attempt may have reached the partner: tell it as well
            retraction = _retraction_for(row, pair, now)
            retractions.append(retraction)
            retraction_id = str(retraction.id)
        outcomes.append(handoff.Withdrawal(pair.campaign_id, handoff.CANCELLED, str(row.id), retraction_id))
    if retractions:
        outbox_enqueue(task_name=task_names.SEND_RETRACTIONS, args=[[str(r.id) for r in retractions]])
    return outcomes


def _retraction_for(row: Dispatch, pair: handoff.WithdrawnPair, now: datetime) -> Retraction:
    retraction, _ = Retraction.objects.get_or_create(
        dispatch=row,
        defaults={
            "partner_id": row.partner_id,
            "reason": pair.reason,
            "eligible_value": pair.eligible_value,
            "campaign_version": pair.campaign_version,
            "refunded_at": now,
        },
    )
    return retraction


def retraction_payload(*, retraction: Retraction, tenant: str) -> dict[str, Any]:
    """The body of a `purchase.retracted` message: which reward it takes back, and why."""
    dispatch = retraction.dispatch
    purchase = dispatch.purchase
    return {
        "type": "purchase.retracted",
        "retraction_id": str(retraction.id),
        "dispatch_id": str(dispatch.id),
        "tenant": tenant,
        "campaign": {
            "id": dispatch.campaign_id,
            "name": dispatch.campaign.name,
            "version": retraction.campaign_version,
        },
        "purchase": {
            "external_id": purchase.external_id,
            "customer_id": purchase.customer_id,
            "channel": purchase.channel,
            "purchased_at": _iso8601(purchase.purchased_at),
            "currency": purchase.currency,
            "total": money_str(purchase.total, purchase.currency),
            "eligible_value": money_str(retraction.eligible_value, purchase.currency),
        },
        "reason": retraction.reason,
        "refunded_at": _iso8601(retraction.refunded_at),
    }


def _sendable(now: datetime) -> Q:
    return (
        Q(status__in=OPEN, partner__is_active=True)
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(milliseconds=500)))
    )


@transaction.atomic
def _claim(
    ids: Sequence[uuid.UUID], *, claim_token: uuid.UUID, now: datetime
) -> tuple[list[ClaimedDispatch], BatchResult]:
    result = BatchResult()
    rows = list(
        Retraction.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("partner", "dispatch__purchase", "dispatch__campaign")
        .filter(_sendable(now), id__in=ids)
        .order_by("created_at")
    )
    result.skipped = len(ids) - len(rows)
    tenant = connection.schema_name
    claimed: list[ClaimedDispatch] = []
    for row in rows:
        partner = row.partner
        row.updated_at = now
        if row.claimed_until is not None:
            RetractionAttempt.objects.create(
                retraction=row,
                number=row.attempts,
                attempted_at=row.claimed_until,
                latency_ms=0,
                outcome=DispatchAttempt.Outcome.RETRY,
                error="worker lost before recording the outcome (lease expired); re-sent with the same Idempotency-Key",
            )
        if row.attempts - row.attempt_base >= partner.max_attempts:
            _mark_dead(row, f"max attempts ({partner.max_attempts}) reached")
            result.dead += 1
            row.save()
            continue
        row.attempts += 1
        row.claimed_until = now + LEASE + timedelta(seconds=2 * partner.timeout_seconds)
        row.claim_token = claim_token
        row.save(update_fields=["attempts", "claimed_until", "claim_token", "updated_at"])
        claimed.append(
            claimed_dispatch(
                partner,
                dispatch_id=row.id,
                attempt_number=row.attempts,
                attempts_used=row.attempts - row.attempt_base,
                payload=retraction_payload(retraction=row, tenant=tenant),
            )
        )
    result.claimed = len(claimed)
    return claimed, result


def _mark_dead(row: Retraction, error: str) -> None:
    row.status = Retraction.Status.DEAD
    row.last_error = excerpt(error)
    row.next_attempt_at = None
    row.claimed_until = None
    row.claim_token = None
    logger.warning(
        "retraction dead",
        extra={
            "retraction_id": str(row.id),
            "dispatch_id": str(row.dispatch_id),
            "error": row.last_error[:200],
        },
    )


@transaction.atomic
def _record(
    outcomes: Sequence[tuple[ClaimedDispatch, client.SubmissionResponse]],
    *,
    claim_token: uuid.UUID,
    now: datetime,
    rng: random.Random | None,
) -> BatchResult:
    result = BatchResult()
    rows = {
        row.id: row
        for row in Retraction.objects.select_for_update().filter(
            id__in=[c.dispatch_id for c, _ in outcomes], claim_token=claim_token
        )
    }
    attempts = []
    for claimed, response in outcomes:
        row = rows.get(claimed.dispatch_id)
        if row is None:
            result.lost += 1
            continue
        decision = classify_response(
            response, attempts_used=claimed.attempts_used, max_attempts=claimed.max_attempts, now=now, rng=rng
        )
        attempts.append(
            RetractionAttempt(
                retraction=row,
                number=claimed.attempt_number,
                attempted_at=now - timedelta(milliseconds=response.latency_ms),
                status_code=response.status_code,
                latency_ms=response.latency_ms,
                outcome=decision.outcome,
                error=decision.error,
            )
        )
        row.last_status_code = response.status_code
        row.claimed_until = None
        row.claim_token = None
        row.updated_at = now
        if decision.outcome == DispatchAttempt.Outcome.SENT:
            row.status, row.sent_at, row.next_attempt_at, row.last_error = (
                Retraction.Status.SENT,
                now,
                None,
                "",
            )
            result.sent += 1
        elif decision.outcome == DispatchAttempt.Outcome.RETRY:
            row.status = Retraction.Status.RETRYING
            row.next_attempt_at = now + timedelta(seconds=decision.retry_in_seconds or 0)
            row.last_error = decision.error
            result.retrying += 1
            result.retry_soon.append((str(row.id), decision.retry_in_seconds or 0.0))
        else:
            _mark_dead(row, decision.error)
            result.dead += 1
        row.save()
    RetractionAttempt.objects.bulk_create(attempts)
    return result


def retractions_send(
    *, retraction_ids: Iterable[uuid.UUID | str], rng: random.Random | None = None
) -> BatchResult:
    """Claim, send (signed, concurrently) and record retractions. Safe to run twice, or at once."""
    ids = normalise_ids(retraction_ids)
    if not ids:
        return BatchResult()
    claim_token = uuid.uuid4()
    claimed, result = _claim(ids, claim_token=claim_token, now=timezone.now())
    if claimed:
        responses = client.submit_many(
            [
                client.SubmissionRequest(
                    url=c.url,
                    body=c.body,
                    headers=signed_headers(secret=c.secret, msg_id=str(c.dispatch_id), body=c.body),
                    timeout_seconds=c.timeout_seconds,
                )
                for c in claimed
            ],
            concurrency=send_concurrency(),
        )
        recorded = _record(
            list(zip(claimed, responses, strict=True)), claim_token=claim_token, now=timezone.now(), rng=rng
        )
        result.merge(recorded)
    return result


def retraction_due_ids(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Retractions to send now: due retries, expired leases, pending ones whose message was lost."""
    now = now or timezone.now()
    due = (
        Q(next_attempt_at__lte=now)
        | Q(
            status=Retraction.Status.PENDING,
            next_attempt_at__isnull=True,
            created_at__lte=now - STUCK_PENDING_AFTER,
        )
        | Q(claimed_until__lte=now)
    )
    return list(
        Retraction.objects.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lte=now),
            due,
            status__in=OPEN,
            partner__is_active=True,
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )


def retractions_send_due() -> BatchResult:
    """The sweep's share for retractions (run by the partner dispatch sweep of the tick)."""
    return retractions_send(retraction_ids=retraction_due_ids())


def reset_for_replay(row: Retraction, now: datetime) -> None:
    row.status = Retraction.Status.PENDING
    row.attempt_base = row.attempts
    row.next_attempt_at = None
    row.claimed_until = None
    row.claim_token = None
    row.updated_at = now
