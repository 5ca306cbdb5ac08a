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
   thread by one libcurl multi handle (`core.http.client.submit_many`).
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

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.budgets import budget_reserve_reward
from core import task_names
from core.audit import audit_record, audit_record_many, changes_between, values_of
from core.delivery import (
    BatchResult,
)
from core.exceptions import ConflictError, NotFoundError
from core.http import client
from core.http.signing import signed_headers
from dispatches.claims import ClaimedDispatch, dispatch_claim, normalise_ids
from dispatches.models import Dispatch, Retraction
from dispatches.policy import send_concurrency
from dispatches.recording import dispatch_record_outcomes
from dispatches.retractions import reset_for_replay
from outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)


# A dispatch still pending this long after its creation lost its enqueue message: the sweep sends it.
STUCK_PENDING_AFTER = timedelta(minutes=1)


SWEEP_LIMIT = 1000


SWEEP_CHUNK = 100


SWEEP_TIME_BUDGET_SECONDS = 60.0


REPLAY_CHUNK = 200
# What a replay's audit event records.
REPLAY_AUDITED_FIELDS = ("status", "replay_count")


def dispatch_send_claimed(*, claimed: Sequence[ClaimedDispatch], claim_token: uuid.UUID) -> BatchResult:
    """Send dispatches created claimed (`dispatch_create_claimed`, committed) and record the outcomes."""
    result = BatchResult(claimed=len(claimed))
    chunk = _claim_chunk()
    for start in range(0, len(claimed), chunk):
        result.merge(_send_and_record(list(claimed[start : start + chunk]), claim_token=claim_token))
    return result


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
    return client.submit_many([_submission(c) for c in claimed], concurrency=send_concurrency())


def dispatch_send_batch(
    *, dispatch_ids: Iterable[uuid.UUID | str], rng: random.Random | None = None
) -> BatchResult:
    """Claim, send (concurrently) and record a batch of dispatches. Safe to run twice, or at once.

    The batch is worked through in chunks of a few times the send concurrency, each claimed just
    before it is sent: a lease then covers seconds of work, not the whole batch, so it stays short
    (fast recovery after a crash) and never expires under a live sender.
    """
    ids = normalise_ids(dispatch_ids)
    total = BatchResult()
    chunk = _claim_chunk()
    for start in range(0, len(ids), chunk):
        total.merge(_send_chunk(ids[start : start + chunk], rng=rng))
    return total


def _claim_chunk() -> int:
    return max(1, int(getattr(settings, "DISPATCH_CLAIM_CHUNK", 4 * send_concurrency())))


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
def dispatch_replay(*, dispatch_id: uuid.UUID | str, actor: str) -> Dispatch:
    """A dead dispatch → pending, enqueued for sending. Any other status → 409."""
    try:
        row = Dispatch.objects.select_for_update().get(pk=dispatch_id)
    except (Dispatch.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("No such dispatch.") from None
    if row.status != Dispatch.Status.DEAD:
        raise ConflictError(
            f"Only dead dispatches can be replayed; this one is {row.status}.", code="dispatch_not_dead"
        )
    if not budget_reserve_reward(campaign_id=row.campaign_id, purchase_id=row.purchase_id):
        raise ConflictError(
            "The campaign's budget has no room left for this reward: it was released when the dispatch "
            "died and is used up since.",
            code="budget_exhausted",
        )
    before = values_of(row, REPLAY_AUDITED_FIELDS)
    _reset_for_replay(row, timezone.now())
    row.save(update_fields=_REPLAY_FIELDS)
    outbox_enqueue(task_name=task_names.SEND_DISPATCHES, args=[[str(row.id)]])
    audit_record(
        actor=actor,
        action="dispatch.replayed",
        obj_or_type=row,
        changes=changes_between(before, values_of(row, REPLAY_AUDITED_FIELDS)),
    )
    logger.info("dispatch replayed", extra={"dispatch_id": str(row.id), "actor": actor})
    return row


def dispatch_replay_dead(
    *,
    actor: str,
    campaign_id: int | None = None,
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
            audited = []
            # A replay reserves the budget again (SPEC §13); a reward that no longer fits stays dead.
            rows = [
                row
                for row in rows
                if budget_reserve_reward(campaign_id=row.campaign_id, purchase_id=row.purchase_id, now=now)
            ]
            for row in rows:
                before = values_of(row, REPLAY_AUDITED_FIELDS)
                _reset_for_replay(row, now)
                audited.append((row, changes_between(before, values_of(row, REPLAY_AUDITED_FIELDS))))
            Dispatch.objects.bulk_update(rows, _REPLAY_FIELDS)
            audit_record_many(actor=actor, action="dispatch.replayed", entries=audited)
            if rows:
                outbox_enqueue(task_name=task_names.SEND_DISPATCHES, args=[[str(row.id) for row in rows]])
        replayed += len(rows)
        if progress:
            progress(len(ids[start : start + chunk]))
    logger.info(
        "dead dispatches replayed", extra={"count": replayed, "campaign_id": campaign_id, "actor": actor}
    )
    return replayed


@transaction.atomic
def retraction_replay(*, retraction_id: uuid.UUID | str, actor: str) -> Retraction:
    """A dead retraction → pending, enqueued for sending (a fresh budget of attempts). Else 409."""
    try:
        row = Retraction.objects.select_for_update().get(pk=retraction_id)
    except (Retraction.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("No such retraction.") from None
    if row.status != Retraction.Status.DEAD:
        raise ConflictError(
            f"Only dead retractions can be replayed; this one is {row.status}.", code="retraction_not_dead"
        )
    before = row.status
    reset_for_replay(row, timezone.now())
    row.save()
    outbox_enqueue(task_name=task_names.SEND_RETRACTIONS, args=[[str(row.id)]])
    audit_record(
        actor=actor,
        action="retraction.replayed",
        obj_or_type=row,
        changes={"status": {"before": before, "after": row.status}},
    )
    return row
