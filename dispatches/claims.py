"""Claiming dispatches for sending: leases, the attempt counter, the signed body; and the claimed
creation of the evaluation's new dispatches (raw SQL on the hot path, ADR 0006)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import F, Q

from campaigns.budgets import budgets_release_refs, dispatch_ref
from campaigns.models import Campaign
from core.delivery import (
    BatchResult,
    excerpt,
)
from dispatches.models import Dispatch, DispatchAttempt
from dispatches.payload import dispatch_payload, encode_body, purchase_eligible_payload
from dispatches.policy import send_concurrency
from outbox import events
from partners.models import Partner
from purchases.handoff import EligibleDispatch
from purchases.models import Evaluation

logger = logging.getLogger(__name__)


# A lease outlives the longest honest attempt: connect + read timeouts, plus room for the recording.
LEASE_MARGIN = timedelta(seconds=60)


# A countdown sent just before its due time must not be skipped for arriving a few ms early.
DUE_SLACK = timedelta(milliseconds=500)


OPEN_STATUSES = (Dispatch.Status.PENDING, Dispatch.Status.RETRYING)


_LOST_WORKER_ERROR = (
    "worker lost before recording the outcome (lease expired); the partner may have received it: "
    "the re-send carries the same Idempotency-Key"
)


@dataclass(frozen=True)
class ClaimedDispatch:
    dispatch_id: uuid.UUID
    attempt_number: int
    attempts_used: int  # since the last replay, this attempt included
    max_attempts: int
    url: str
    secret: str
    timeout_seconds: int
    body: bytes
    partner_slug: str = ""


def _lease_until(now: datetime, *, rows: int, slowest_timeout_seconds: int) -> datetime:
    """Long enough for every request of the chunk: `rows` go through the pool `concurrency` at a time,
    each bounded by connect + read timeouts."""
    rounds = -(-rows // send_concurrency())
    return now + timedelta(seconds=rounds * 2 * slowest_timeout_seconds) + LEASE_MARGIN


def normalise_ids(dispatch_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for value in dispatch_ids:
        try:
            ids.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            logger.warning("ignoring a malformed dispatch id", extra={"dispatch_id": str(value)[:64]})
    return ids


def _sendable(now: datetime) -> Q:
    return (
        Q(status__in=[Dispatch.Status.PENDING, Dispatch.Status.RETRYING], partner__is_active=True)
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + DUE_SLACK))
    )


def _eligible_evaluations(dispatch_ids: Sequence[uuid.UUID]) -> dict[tuple[int, int], Evaluation]:
    """The eligible evaluation of each dispatch's (purchase, campaign), keyed by that pair.

    Joined from the dispatch rows (primary key) into the unique (purchase, campaign) index: the
    plan is a handful of index lookups whatever the table statistics say. Filtering evaluations by
    `purchase_id IN (…) AND campaign_id IN (…)` let the planner read every eligible evaluation of
    the campaigns (or the whole table, with stale statistics): a cost growing with the table
    (ADR 0006, "Performance").
    """
    if not dispatch_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT e.id, e.purchase_id, e.campaign_id, e.campaign_version, e.eligible_value, e.evaluated_at
            FROM {Dispatch._meta.db_table} d
            JOIN {Evaluation._meta.db_table} e ON e.purchase_id = d.purchase_id AND e.campaign_id = d.campaign_id
            WHERE d.id = ANY(%s::uuid[]) AND e.eligible
            """,  # noqa: S608 - table names are ours, values are parameters
            [list(dispatch_ids)],
        )
        return {
            (purchase_id, campaign_id): Evaluation(
                id=evaluation_id,
                purchase_id=purchase_id,
                campaign_id=campaign_id,
                campaign_version=version,
                eligible=True,
                eligible_value=value,
                reason=None,
                evaluated_at=evaluated_at,
            )
            for evaluation_id, purchase_id, campaign_id, version, value, evaluated_at in cursor.fetchall()
        }


_CLAIM_FIELDS = (
    "id",
    "purchase_id",
    "campaign_id",
    "partner_id",
    "status",
    "attempts",
    "attempt_base",
    "claimed_until",
    "claim_token",
    "last_error",
    "next_attempt_at",
    "updated_at",
    "purchase__id",
    "purchase__external_id",
    "purchase__customer_id",
    "purchase__channel",
    "purchase__purchased_at",
    "purchase__currency",
    "purchase__total",
    "campaign__id",
    "campaign__name",
    "partner__id",
    "partner__slug",
    "partner__submission_url",
    "partner__secret",
    "partner__timeout_seconds",
    "partner__max_attempts",
    "partner__is_active",
)


@transaction.atomic
def dispatch_claim(
    *, dispatch_ids: Sequence[uuid.UUID], claim_token: uuid.UUID, now: datetime
) -> tuple[list[ClaimedDispatch], BatchResult]:
    """Lock and lease the sendable dispatches among `dispatch_ids`; build their signed bodies."""
    result = BatchResult()
    rows = list(
        Dispatch.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("partner", "campaign", "purchase")
        # Only what the claim and the SPEC §5 body read (model instances are the claim's main CPU cost).
        .only(*_CLAIM_FIELDS)
        .filter(_sendable(now), id__in=dispatch_ids)
        .order_by("created_at")
    )
    result.skipped = len(dispatch_ids) - len(rows)
    evaluations = _eligible_evaluations([r.id for r in rows])
    tenant = connection.schema_name
    lease_until = _lease_until(
        now, rows=len(rows), slowest_timeout_seconds=max((r.partner.timeout_seconds for r in rows), default=1)
    )
    claimed: list[ClaimedDispatch] = []
    lost_attempts: list[DispatchAttempt] = []
    for row in rows:
        partner = row.partner
        row.updated_at = now
        if row.claimed_until is not None:
            # A previous sender claimed it and never recorded: its request may have reached the partner.
            lost_attempts.append(
                DispatchAttempt(
                    dispatch=row,
                    number=row.attempts,
                    attempted_at=row.claimed_until,
                    status_code=None,
                    latency_ms=0,
                    outcome=DispatchAttempt.Outcome.RETRY,
                    error=_LOST_WORKER_ERROR,
                )
            )
            row.last_error = _LOST_WORKER_ERROR
        evaluation = evaluations.get((row.purchase_id, row.campaign_id))
        if row.attempts - row.attempt_base >= partner.max_attempts:
            mark_dead(row, f"max attempts ({partner.max_attempts}) reached: {_LOST_WORKER_ERROR}")
            result.dead += 1
            continue
        if evaluation is None:
            mark_dead(row, "no eligible evaluation for this purchase and campaign: nothing to send")
            result.dead += 1
            continue
        row.attempts += 1
        row.claimed_until = lease_until
        row.claim_token = claim_token
        claimed.append(
            claimed_dispatch(
                partner,
                dispatch_id=row.id,
                attempt_number=row.attempts,
                attempts_used=row.attempts - row.attempt_base,
                payload=dispatch_payload(dispatch=row, evaluation=evaluation, tenant=tenant),
            )
        )
    _release_dead_budgets(rows, now=now)
    if lost_attempts:
        DispatchAttempt.objects.bulk_create(lost_attempts)
    # One UPDATE for all claimed rows (they share the lease): bulk_update's CASE per row is far slower.
    if claimed:
        Dispatch.objects.filter(id__in=[c.dispatch_id for c in claimed]).update(
            attempts=F("attempts") + 1, claimed_until=lease_until, claim_token=claim_token, updated_at=now
        )
    lost_ids = [a.dispatch_id for a in lost_attempts]
    if lost_ids:
        Dispatch.objects.filter(id__in=lost_ids, status__in=OPEN_STATUSES).update(
            last_error=_LOST_WORKER_ERROR
        )
    for row in rows:
        if row.status == Dispatch.Status.DEAD:  # rare: poison guard, missing evaluation
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
    result.claimed = len(claimed)
    return claimed, result


# What sending reads of a partner (`claimed_dispatch`, the lease).
_SENDING_PARTNER_FIELDS = (
    "id",
    "slug",
    "submission_url",
    "secret",
    "timeout_seconds",
    "max_attempts",
    "is_active",
)


def claimed_dispatch(
    partner: Partner,
    *,
    dispatch_id: uuid.UUID,
    attempt_number: int,
    attempts_used: int,
    payload: dict[str, Any],
) -> ClaimedDispatch:
    """A dispatch ready to send: where, with which secret and timeout, and the exact body bytes."""
    return ClaimedDispatch(
        dispatch_id=dispatch_id,
        attempt_number=attempt_number,
        attempts_used=attempts_used,
        max_attempts=partner.max_attempts,
        url=partner.submission_url,
        secret=partner.secret,
        timeout_seconds=partner.timeout_seconds,
        body=encode_body(payload),
        partner_slug=partner.slug,
    )


@dataclass
class CreatedDispatches:
    """What `dispatch_create_claimed` wrote: the rows created, and those already claimed for sending."""

    created: list[uuid.UUID] = field(default_factory=list)
    claimed: list[ClaimedDispatch] = field(default_factory=list)
    claim_token: uuid.UUID = field(default_factory=uuid.uuid4)


def dispatch_create_claimed(*, eligible: Sequence[EligibleDispatch], now: datetime) -> CreatedDispatches:
    """Create the dispatches of eligible pairs, already claimed by the caller, in the caller's transaction.

    The evaluation calls this inside the transaction that writes the evaluations,
    then sends the claimed dispatches itself once that transaction has committed
    (`dispatch_send_claimed`): the hand-over costs no second message, no second
    task and no second claim (ADR 0006, "Performance"). A row is inserted with the
    lease and the attempt counter of its first attempt, exactly as
    `dispatch_claim` would leave it: if the worker dies before recording, the
    lease expires and the beat sweep sends it (same `Idempotency-Key`), as for any
    lost sender. A pair that already has a dispatch is skipped (`ON CONFLICT DO
    NOTHING` on the unique pair); a dispatch of an inactive partner is created
    pending and unclaimed, left for the sweep once the partner is active again.
    """
    created = CreatedDispatches()
    if not eligible:
        return created
    partners = Partner.objects.only(*_SENDING_PARTNER_FIELDS).in_bulk({e.partner_id for e in eligible})
    names = dict(Campaign.objects.filter(id__in={e.campaign_id for e in eligible}).values_list("id", "name"))
    lease_until = _lease_until(
        now,
        rows=len(eligible),
        slowest_timeout_seconds=max((p.timeout_seconds for p in partners.values()), default=1),
    )
    tenant = connection.schema_name
    ids: list[uuid.UUID] = []
    claims: list[ClaimedDispatch | None] = []
    for pair in eligible:
        dispatch_id = uuid.uuid4()
        ids.append(dispatch_id)
        partner = partners[pair.partner_id]
        if not partner.is_active or partner.max_attempts < 1:
            claims.append(None)
            continue
        claims.append(
            claimed_dispatch(
                partner,
                dispatch_id=dispatch_id,
                attempt_number=1,
                attempts_used=1,
                payload=purchase_eligible_payload(
                    dispatch_id=dispatch_id,
                    tenant=tenant,
                    campaign_id=pair.campaign_id,
                    campaign_name=names[pair.campaign_id],
                    campaign_version=pair.campaign_version,
                    purchase=pair.purchase,
                    eligible_value=pair.eligible_value,
                ),
            )
        )
    document = orjson.dumps(
        [
            {
                "id": dispatch_id,
                "purchase_id": pair.purchase_id,
                "campaign_id": pair.campaign_id,
                "partner_id": pair.partner_id,
                "claimed": claim is not None,
            }
            for dispatch_id, pair, claim in zip(ids, eligible, claims, strict=True)
        ]
    ).decode()
    with connection.cursor() as cursor:
        # One statement for the whole batch (one JSON document: a single parameter to quote),
        # RETURNING only the rows really inserted.
        cursor.execute(
            f"""
            INSERT INTO {Dispatch._meta.db_table}
                (id, purchase_id, campaign_id, partner_id, status, attempts, claimed_until, claim_token,
                 last_error, created_at, updated_at)
            SELECT pair.id, pair.purchase_id, pair.campaign_id, pair.partner_id, %(pending)s,
                   CASE WHEN pair.claimed THEN 1 ELSE 0 END,
                   CASE WHEN pair.claimed THEN %(lease_until)s::timestamptz END,
                   CASE WHEN pair.claimed THEN %(claim_token)s::uuid END,
                   '', %(now)s, %(now)s
            FROM jsonb_to_recordset(%(pairs)s::jsonb)
                AS pair(id uuid, purchase_id bigint, campaign_id bigint, partner_id bigint, claimed boolean)
            ON CONFLICT (purchase_id, campaign_id) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - the table name is ours, every value is a parameter
            {
                "pending": Dispatch.Status.PENDING.value,
                "lease_until": lease_until,
                "claim_token": created.claim_token,
                "now": now,
                "pairs": document,
            },
        )
        inserted = {row[0] for row in cursor.fetchall()}
    created.created = [dispatch_id for dispatch_id in ids if dispatch_id in inserted]
    created.claimed = [claim for claim in claims if claim is not None and claim.dispatch_id in inserted]
    return created


def mark_dead(row: Any, error: str) -> None:
    """Make a dispatch (a model row, or a recording's light row) final: dead, unclaimed."""
    row.status = Dispatch.Status.DEAD
    row.last_error = excerpt(error)
    row.next_attempt_at = None
    row.claimed_until = None
    row.claim_token = None
    events.emit(
        events.EventType.DISPATCH_DEAD,
        {"dispatch_id": str(row.id), "campaign_id": row.campaign_id, "error": row.last_error},
    )
    logger.warning(
        "dispatch dead",
        extra={"dispatch_id": str(row.id), "campaign_id": row.campaign_id, "error": row.last_error[:200]},
    )


def _release_dead_budgets(rows: Sequence[Any], *, now: datetime) -> None:
    """A dispatch dead-lettered at claim time gives its budget reservation back (SPEC §13)."""
    refs = [
        dispatch_ref(purchase_id=row.purchase_id, campaign_id=row.campaign_id)
        for row in rows
        if row.status == Dispatch.Status.DEAD
    ]
    if refs:
        budgets_release_refs(refs=refs, now=now)
