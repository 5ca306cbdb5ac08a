"""Sending eligible purchases to partners (SPEC §5): claim, send, record, back off, dead-letter, replay.

The flow of one batch (`dispatch_send_batch`, called by the task
`partners.send_dispatches` and by the beat sweep `partners.send_due_dispatches`):

1. **Claim** (one short transaction): the sendable rows among the ids are locked
   with `FOR UPDATE SKIP LOCKED`, their attempt counter is incremented *before*
   sending (the poison guard: a dispatch that kills its worker still uses up
   attempts) and a lease is written (`claimed_until`, `claim_token`). Rows
   under someone else's live lease, already `sent`/`dead`, or not yet due are
   skipped. The signed body is built here.
2. **Send** (no transaction, no DB connection used): the batch is posted
   concurrently, at most `DISPATCH_SEND_CONCURRENCY` in flight, from the calling
   thread by one libcurl multi handle (`partners.client.submit_many`).
3. **Record** (one short transaction): an attempt row per request and the new
   state of each dispatch, written only where our `claim_token` still holds
   (fencing). `sent` and `dead` are final until a replay.

A worker killed between 2 and 3 leaves the lease to expire; the sweep then
claims the row again, writes a "worker lost" attempt row and re-sends once,
with the same `webhook-id`/`Idempotency-Key`. See docs/adr/0006-partner-dispatch.md.

The first attempt of a new dispatch skips step 1: the evaluation creates the
row already claimed (`dispatch_create_claimed`, in its own transaction) and
sends it after its commit (`dispatch_send_claimed`: steps 2 and 3), so the
hot path pays for no second message and no second claim. Retries, the sweep
and replays go through `dispatch_send_batch`.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import Campaign
from core import metrics
from core.exceptions import ConflictError, NotFoundError
from core.money import money_str
from outbox.services import outbox_enqueue
from partners import client
from partners.models import Dispatch, DispatchAttempt, Partner
from partners.signing import signed_headers
from purchases.models import Evaluation

logger = logging.getLogger(__name__)

SEND_TASK_NAME = "partners.send_dispatches"
ERROR_EXCERPT_CHARS = 1000
# A lease outlives the longest honest attempt: connect + read timeouts, plus room for the recording.
LEASE_MARGIN = timedelta(seconds=60)
# A dispatch still pending this long after its creation lost its enqueue message: the sweep sends it.
STUCK_PENDING_AFTER = timedelta(minutes=1)
# A countdown sent just before its due time must not be skipped for arriving a few ms early.
DUE_SLACK = timedelta(milliseconds=500)
# Retry-After is honoured as a minimum, but a partner cannot park a dispatch for a month.
RETRY_AFTER_MAX_SECONDS = 24 * 3600
SWEEP_LIMIT = 1000
SWEEP_CHUNK = 100
SWEEP_TIME_BUDGET_SECONDS = 60.0
REPLAY_CHUNK = 200

RETRYABLE_STATUS_CODES = frozenset({408, 429})
_OPEN_STATUSES = (Dispatch.Status.PENDING, Dispatch.Status.RETRYING)

_LOST_WORKER_ERROR = (
    "worker lost before recording the outcome (lease expired); the partner may have received it: "
    "the re-send carries the same Idempotency-Key"
)


def _retry_base_seconds() -> float:
    return float(getattr(settings, "DISPATCH_RETRY_BASE_SECONDS", 10))


def _retry_max_seconds() -> float:
    return float(getattr(settings, "DISPATCH_RETRY_MAX_SECONDS", 3600))


def _send_concurrency() -> int:
    return max(1, int(getattr(settings, "DISPATCH_SEND_CONCURRENCY", 16)))


# --- pure parts: payload, back-off, classification -------------------------------------------------


def _iso8601(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dispatch_payload(*, dispatch: Dispatch, evaluation: Evaluation, tenant: str) -> dict[str, Any]:
    """The SPEC §5 body: version and eligible value come from the evaluation that made it eligible."""
    purchase = dispatch.purchase
    return _payload(
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


@dataclass(frozen=True, slots=True)
class PurchaseFields:
    """What a SPEC §5 body says of the purchase."""

    external_id: str
    customer_id: str
    channel: str
    purchased_at: datetime
    currency: str
    total: Decimal


def _payload(
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
            "total": money_str(purchase.total, purchase.currency),
            "eligible_value": money_str(eligible_value, purchase.currency),
        },
    }


def encode_body(payload: dict[str, Any]) -> bytes:
    """Compact JSON, ASCII-only: the exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def backoff_seconds(
    *, attempt_number: int, retry_after_seconds: float | None = None, rng: random.Random | None = None
) -> float:
    """Exponential back-off with full jitter (at least 1 s), raised to `Retry-After` when given."""
    rng = rng or random
    cap = min(_retry_max_seconds(), _retry_base_seconds() * 2 ** max(0, attempt_number - 1))
    delay = max(1.0, rng.uniform(0, cap))
    if retry_after_seconds is not None:
        delay = max(delay, min(retry_after_seconds, RETRY_AFTER_MAX_SECONDS))
    return delay


@dataclass(frozen=True)
class Decision:
    """What one attempt means for its dispatch."""

    outcome: str  # DispatchAttempt.Outcome
    error: str = ""
    retry_in_seconds: float | None = None


def _excerpt(text: str) -> str:
    return text if len(text) <= ERROR_EXCERPT_CHARS else text[: ERROR_EXCERPT_CHARS - 1] + "…"


def _describe(response: client.SubmissionResponse) -> str:
    if response.status_code is None:
        return _excerpt(f"{response.failure}: {response.failure_detail}")
    body = response.body_excerpt.decode("utf-8", errors="replace")
    text = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        text += f": redirect to {response.location or '(no Location)'} not followed"
    marker = f" [response body over {client.RESPONSE_READ_CAP} bytes, not read further]"
    if body:
        text = _excerpt(f"{text}: {body}")
        if response.body_truncated:
            text = text[: ERROR_EXCERPT_CHARS - len(marker)] + marker
    return text


def classify_response(
    response: client.SubmissionResponse,
    *,
    attempts_used: int,
    max_attempts: int,
    now: datetime,
    rng: random.Random | None = None,
) -> Decision:
    """2xx → sent; 408/429/5xx/timeout/connection error → retry (dead once the budget is used); else dead.

    `attempts_used` counts this attempt, since the last replay.
    """
    code = response.status_code
    if code is not None and 200 <= code < 300:
        return Decision(DispatchAttempt.Outcome.SENT)
    error = _describe(response)
    if code is not None:
        retryable = code in RETRYABLE_STATUS_CODES or code >= 500
    else:
        retryable = response.failure in (client.NetworkFailure.TIMEOUT, client.NetworkFailure.CONNECTION)
    if not retryable:
        return Decision(DispatchAttempt.Outcome.DEAD, error)
    if attempts_used >= max_attempts:
        return Decision(
            DispatchAttempt.Outcome.DEAD, _excerpt(f"max attempts ({max_attempts}) reached: {error}")
        )
    delay = backoff_seconds(
        attempt_number=attempts_used,
        retry_after_seconds=parse_retry_after(response.retry_after, now=now),
        rng=rng,
    )
    return Decision(DispatchAttempt.Outcome.RETRY, error, delay)


# --- claim, send, record ---------------------------------------------------------------------------


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


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    skipped: int = 0  # not sendable now: final, not due, claimed by someone else, or unknown
    lost: int = 0  # lease was taken over before we could record (our outcome was not written)
    # (dispatch id, seconds) of retries due soon: the task may schedule them with a countdown.
    retry_soon: list[tuple[str, float]] = field(default_factory=list)

    def merge(self, other: BatchResult) -> None:
        for name in ("claimed", "sent", "retrying", "dead", "skipped", "lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.retry_soon.extend(other.retry_soon)


def _lease_until(now: datetime, *, rows: int, slowest_timeout_seconds: int) -> datetime:
    """Long enough for every request of the chunk: `rows` go through the pool `concurrency` at a time,
    each bounded by connect + read timeouts."""
    rounds = -(-rows // _send_concurrency())
    return now + timedelta(seconds=rounds * 2 * slowest_timeout_seconds) + LEASE_MARGIN


def _normalise_ids(dispatch_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
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
            _mark_dead(row, f"max attempts ({partner.max_attempts}) reached: {_LOST_WORKER_ERROR}")
            result.dead += 1
            continue
        if evaluation is None:
            _mark_dead(row, "no eligible evaluation for this purchase and campaign: nothing to send")
            result.dead += 1
            continue
        row.attempts += 1
        row.claimed_until = lease_until
        row.claim_token = claim_token
        claimed.append(
            _claimed(
                partner,
                dispatch_id=row.id,
                attempt_number=row.attempts,
                attempts_used=row.attempts - row.attempt_base,
                payload=dispatch_payload(dispatch=row, evaluation=evaluation, tenant=tenant),
            )
        )
    if lost_attempts:
        DispatchAttempt.objects.bulk_create(lost_attempts)
    # One UPDATE for all claimed rows (they share the lease): bulk_update's CASE per row is far slower.
    if claimed:
        Dispatch.objects.filter(id__in=[c.dispatch_id for c in claimed]).update(
            attempts=F("attempts") + 1, claimed_until=lease_until, claim_token=claim_token, updated_at=now
        )
    lost_ids = [a.dispatch_id for a in lost_attempts]
    if lost_ids:
        Dispatch.objects.filter(id__in=lost_ids, status__in=_OPEN_STATUSES).update(
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


# What sending reads of a partner (`_claimed`, the lease).
_SENDING_PARTNER_FIELDS = (
    "id",
    "slug",
    "submission_url",
    "secret",
    "timeout_seconds",
    "max_attempts",
    "is_active",
)


def _claimed(
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


@dataclass(frozen=True, slots=True)
class EligibleDispatch:
    """An eligible (purchase, campaign) pair handed over by the evaluation, with what its body needs."""

    purchase_id: int
    campaign_id: int
    partner_id: int
    campaign_version: int
    eligible_value: Decimal
    purchase: PurchaseFields


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
            _claimed(
                partner,
                dispatch_id=dispatch_id,
                attempt_number=1,
                attempts_used=1,
                payload=_payload(
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


def dispatch_send_claimed(*, claimed: Sequence[ClaimedDispatch], claim_token: uuid.UUID) -> BatchResult:
    """Send dispatches created claimed (`dispatch_create_claimed`, committed) and record the outcomes."""
    result = BatchResult(claimed=len(claimed))
    chunk = _claim_chunk()
    for start in range(0, len(claimed), chunk):
        result.merge(_send_and_record(list(claimed[start : start + chunk]), claim_token=claim_token))
    return result


def _mark_dead(row: Dispatch | _RecordedRow, error: str) -> None:
    row.status = Dispatch.Status.DEAD
    row.last_error = _excerpt(error)
    row.next_attempt_at = None
    row.claimed_until = None
    row.claim_token = None
    logger.warning(
        "dispatch dead",
        extra={"dispatch_id": str(row.id), "campaign_id": row.campaign_id, "error": row.last_error[:200]},
    )


def _submission(claimed: ClaimedDispatch) -> client.SubmissionRequest:
    """The signed POST of a claimed dispatch (signed now: the timestamp is the sending time)."""
    return client.SubmissionRequest(
        url=claimed.url,
        body=claimed.body,
        headers=signed_headers(secret=claimed.secret, msg_id=str(claimed.dispatch_id), body=claimed.body),
        timeout_seconds=claimed.timeout_seconds,
    )


def _submit_all(claimed: list[ClaimedDispatch]) -> list[client.SubmissionResponse]:
    """Send a chunk concurrently (at most DISPATCH_SEND_CONCURRENCY in flight) from this thread."""
    return client.submit_many([_submission(c) for c in claimed], concurrency=_send_concurrency())


@transaction.atomic
def dispatch_record_outcomes(
    *,
    outcomes: Sequence[tuple[ClaimedDispatch, client.SubmissionResponse]],
    claim_token: uuid.UUID,
    now: datetime,
    rng: random.Random | None = None,
) -> BatchResult:
    """Write each attempt and the dispatch's new state, where our claim still holds."""
    result = BatchResult()
    with connection.cursor() as cursor:
        # Only what the loop reads without assigning it first (every other field written below is set
        # on every path), as plain rows rather than model instances.
        cursor.execute(
            f"SELECT id, campaign_id, status, sent_at FROM {Dispatch._meta.db_table}"  # noqa: S608
            " WHERE id = ANY(%s::uuid[]) AND claim_token = %s FOR UPDATE",
            [_uuid_array(c.dispatch_id for c, _ in outcomes), claim_token],
        )
        rows = {row[0]: _RecordedRow(*row) for row in cursor.fetchall()}
    attempts: list[tuple] = []
    for claimed, response in outcomes:
        row = rows.get(claimed.dispatch_id)
        if row is None:
            result.lost += 1
            logger.warning(
                "dispatch lease lost before recording; the new owner re-sends it",
                extra={"dispatch_id": str(claimed.dispatch_id), "status_code": response.status_code},
            )
            continue
        decision = classify_response(
            response, attempts_used=claimed.attempts_used, max_attempts=claimed.max_attempts, now=now, rng=rng
        )
        tenant = connection.schema_name
        metrics.DISPATCH_ATTEMPTS.labels(
            tenant=tenant, partner=claimed.partner_slug, outcome=decision.outcome
        ).inc()
        metrics.DISPATCH_LATENCY_SECONDS.labels(tenant=tenant, partner=claimed.partner_slug).observe(
            response.latency_ms / 1000
        )
        attempts.append(
            (
                row.id,
                claimed.attempt_number,
                now - timedelta(milliseconds=response.latency_ms),
                response.status_code,
                response.latency_ms,
                str(decision.outcome),
                decision.error,
            )
        )
        row.last_status_code = response.status_code
        row.claimed_until = None
        row.claim_token = None
        row.updated_at = now
        if decision.outcome == DispatchAttempt.Outcome.SENT:
            row.status = Dispatch.Status.SENT
            row.sent_at = now
            row.next_attempt_at = None
            row.last_error = ""
            result.sent += 1
        elif decision.outcome == DispatchAttempt.Outcome.RETRY:
            row.status = Dispatch.Status.RETRYING
            row.next_attempt_at = now + timedelta(seconds=decision.retry_in_seconds or 0)
            row.last_error = decision.error
            result.retrying += 1
            result.retry_soon.append((str(row.id), decision.retry_in_seconds or 0.0))
            logger.info(
                "dispatch will be retried",
                extra={
                    "dispatch_id": str(row.id),
                    "campaign_id": row.campaign_id,
                    "attempt": claimed.attempt_number,
                    "status_code": response.status_code,
                    "retry_in_s": round(decision.retry_in_seconds or 0, 1),
                },
            )
        else:
            _mark_dead(row, decision.error)
            result.dead += 1
    _insert_attempts(attempts)
    _update_grouped(
        [r for r in rows.values() if r.claim_token is None],
        [
            "status",
            "sent_at",
            "next_attempt_at",
            "last_error",
            "last_status_code",
            "claimed_until",
            "claim_token",
            "updated_at",
        ],
    )
    return result


def _insert_attempts(attempts: Sequence[tuple]) -> None:
    """The audit rows of a chunk in one statement (`bulk_create` built a model instance per row).

    Each tuple: (dispatch_id, number, attempted_at, status_code, latency_ms, outcome, error). The
    rows travel as one JSON document (orjson writes UUIDs and datetimes natively): one string to
    quote instead of seven arrays of values quoted one by one.
    """
    if not attempts:
        return
    document = orjson.dumps([dict(zip(_ATTEMPT_COLUMNS, attempt, strict=True)) for attempt in attempts])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {DispatchAttempt._meta.db_table}
                (dispatch_id, number, attempted_at, status_code, latency_ms, outcome, error)
            SELECT dispatch_id, number, attempted_at, status_code, latency_ms, outcome, error
            FROM jsonb_to_recordset(%s::jsonb) AS a(dispatch_id uuid, number integer,
                attempted_at timestamptz, status_code smallint, latency_ms integer, outcome varchar, error text)
            """,  # noqa: S608 - the table name is ours, every value is a parameter
            [document.decode()],
        )


_ATTEMPT_COLUMNS = ("dispatch_id", "number", "attempted_at", "status_code", "latency_ms", "outcome", "error")


@dataclass(slots=True)
class _RecordedRow:
    """A dispatch as the recording reads and writes it (plain attributes, not a model instance)."""

    id: uuid.UUID
    campaign_id: int
    status: str
    sent_at: datetime | None
    next_attempt_at: datetime | None = None
    last_error: str = ""
    last_status_code: int | None = None
    claimed_until: datetime | None = None
    claim_token: uuid.UUID | None = None
    updated_at: datetime | None = None


def _uuid_array(ids: Iterable[uuid.UUID]) -> str:
    """A PostgreSQL uuid[] literal: one parameter instead of one quoted parameter per id."""
    return "{" + ",".join(str(value) for value in ids) + "}"


def _update_grouped(rows: Sequence[_RecordedRow], fields: Sequence[str]) -> None:
    """One UPDATE per distinct set of values: a batch that went well is a single statement."""
    groups: dict[tuple, list[uuid.UUID]] = {}
    for row in rows:
        groups.setdefault(tuple(getattr(row, name) for name in fields), []).append(row.id)
    assignments = ", ".join(f"{name} = %s" for name in fields)
    with connection.cursor() as cursor:
        for values, ids in groups.items():
            cursor.execute(
                f"UPDATE {Dispatch._meta.db_table} SET {assignments} WHERE id = ANY(%s::uuid[])",  # noqa: S608
                [*(str(v) if isinstance(v, Enum) else v for v in values), _uuid_array(ids)],
            )


def dispatch_send_batch(
    *, dispatch_ids: Iterable[uuid.UUID | str], rng: random.Random | None = None
) -> BatchResult:
    """Claim, send (concurrently) and record a batch of dispatches. Safe to run twice, or at once.

    The batch is worked through in chunks of a few times the send concurrency, each claimed just
    before it is sent: a lease then covers seconds of work, not the whole batch, so it stays short
    (fast recovery after a crash) and never expires under a live sender.
    """
    ids = _normalise_ids(dispatch_ids)
    total = BatchResult()
    chunk = _claim_chunk()
    for start in range(0, len(ids), chunk):
        total.merge(_send_chunk(ids[start : start + chunk], rng=rng))
    return total


def _claim_chunk() -> int:
    return max(1, int(getattr(settings, "DISPATCH_CLAIM_CHUNK", 4 * _send_concurrency())))


def _send_chunk(ids: list[uuid.UUID], *, rng: random.Random | None) -> BatchResult:
    claim_token = uuid.uuid4()
    claimed, result = dispatch_claim(dispatch_ids=ids, claim_token=claim_token, now=timezone.now())
    if claimed:
        result.merge(_send_and_record(claimed, claim_token=claim_token, rng=rng))
    return result


def _send_and_record(
    claimed: list[ClaimedDispatch], *, claim_token: uuid.UUID, rng: random.Random | None = None
) -> BatchResult:
    """Steps 2 and 3 for claimed dispatches (their claim is counted by whoever claimed them)."""
    recorded = dispatch_record_outcomes(
        outcomes=list(zip(claimed, _submit_all(claimed), strict=True)),
        claim_token=claim_token,
        now=timezone.now(),
        rng=rng,
    )
    recorded.claimed = 0
    return recorded


# --- the sweep ------------------------------------------------------------------------------------


def dispatch_due_ids(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Dispatches to send now: retries that are due, leases that expired, pending ones left behind."""
    now = now or timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    due = (
        Q(next_attempt_at__lte=now)
        | Q(
            status=Dispatch.Status.PENDING,
            next_attempt_at__isnull=True,
            created_at__lte=now - STUCK_PENDING_AFTER,
        )
        | Q(claimed_until__lte=now)
    )
    return list(
        Dispatch.objects.filter(
            free,
            due,
            status__in=[Dispatch.Status.PENDING, Dispatch.Status.RETRYING],
            partner__is_active=True,
        )
        .order_by("next_attempt_at", "created_at")
        .values_list("id", flat=True)[:limit]
    )


def dispatch_send_due(
    *,
    limit: int = SWEEP_LIMIT,
    chunk: int = SWEEP_CHUNK,
    time_budget_seconds: float = SWEEP_TIME_BUDGET_SECONDS,
) -> BatchResult:
    """The beat sweep's work in one brand: send what is due, a chunk at a time, for a bounded time
    (a partner that times out must not hold a worker for many minutes; the next sweep goes on)."""
    total = BatchResult()
    ids = dispatch_due_ids(limit=limit)
    started = time.monotonic()
    for start in range(0, len(ids), chunk):
        if start and time.monotonic() - started > time_budget_seconds:
            break  # the first chunk always goes
        total.merge(dispatch_send_batch(dispatch_ids=ids[start : start + chunk]))
    return total


# --- replay ---------------------------------------------------------------------------------------


def _reset_for_replay(row: Dispatch, now: datetime) -> None:
    row.status = Dispatch.Status.PENDING
    row.attempt_base = row.attempts  # a fresh budget of max_attempts; attempt numbers keep counting
    row.next_attempt_at = None
    row.claimed_until = None
    row.claim_token = None
    row.replay_count += 1
    row.replayed_at = now
    row.updated_at = now


_REPLAY_FIELDS = [
    "status",
    "attempt_base",
    "next_attempt_at",
    "claimed_until",
    "claim_token",
    "replay_count",
    "replayed_at",
    "updated_at",
]


@transaction.atomic
def dispatch_replay(*, dispatch_id: uuid.UUID | str, actor: str = "") -> Dispatch:
    """A dead dispatch → pending, enqueued for sending. Any other status → 409."""
    try:
        row = Dispatch.objects.select_for_update().get(pk=dispatch_id)
    except (Dispatch.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("No such dispatch.") from None
    if row.status != Dispatch.Status.DEAD:
        raise ConflictError(
            f"Only dead dispatches can be replayed; this one is {row.status}.", code="dispatch_not_dead"
        )
    _reset_for_replay(row, timezone.now())
    row.save(update_fields=_REPLAY_FIELDS)
    outbox_enqueue(task_name=SEND_TASK_NAME, args=[[str(row.id)]])
    logger.info("dispatch replayed", extra={"dispatch_id": str(row.id), "actor": actor})
    return row


def dispatch_replay_dead(
    *,
    campaign_id: int | None = None,
    actor: str = "",
    chunk: int = REPLAY_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Replay every dead dispatch (of one campaign, or all): one transaction and one message per chunk."""
    dead = Dispatch.objects.filter(status=Dispatch.Status.DEAD)
    if campaign_id is not None:
        dead = dead.filter(campaign_id=campaign_id)
    ids = list(dead.order_by("created_at").values_list("id", flat=True))
    replayed = 0
    for start in range(0, len(ids), chunk):
        with transaction.atomic():
            rows = list(
                Dispatch.objects.select_for_update(skip_locked=True).filter(
                    id__in=ids[start : start + chunk], status=Dispatch.Status.DEAD
                )
            )
            now = timezone.now()
            for row in rows:
                _reset_for_replay(row, now)
            Dispatch.objects.bulk_update(rows, _REPLAY_FIELDS)
            if rows:
                outbox_enqueue(task_name=SEND_TASK_NAME, args=[[str(row.id) for row in rows]])
        replayed += len(rows)
        if progress:
            progress(len(ids[start : start + chunk]))
    logger.info(
        "dead dispatches replayed", extra={"count": replayed, "campaign_id": campaign_id, "actor": actor}
    )
    return replayed
