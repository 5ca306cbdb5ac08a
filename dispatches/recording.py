"""Recording the outcomes of a sent chunk: attempt rows and new states, fenced by the claim token."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import orjson
from django.db import connection, transaction

from campaigns.budgets import budgets_commit_refs, budgets_release_refs, dispatch_ref
from core import metrics
from core.delivery import (
    BatchResult,
)
from core.http import client
from dispatches.claims import ClaimedDispatch, mark_dead
from dispatches.models import Dispatch, DispatchAttempt
from dispatches.policy import classify_response
from outbox import events

logger = logging.getLogger(__name__)


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
            f"SELECT id, campaign_id, status, sent_at, purchase_id FROM {Dispatch._meta.db_table}"  # noqa: S608
            " WHERE id = ANY(%s::uuid[]) AND claim_token = %s FOR UPDATE",
            [_uuid_array(c.dispatch_id for c, _ in outcomes), claim_token],
        )
        rows = {row[0]: _RecordedRow(*row) for row in cursor.fetchall()}
    attempts: list[tuple] = []
    sent_events: list[dict] = []
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
            sent_events.append(
                {
                    "dispatch_id": str(row.id),
                    "campaign_id": row.campaign_id,
                    "partner": claimed.partner_slug,
                    "attempts": claimed.attempt_number,
                    "status_code": response.status_code,
                }
            )
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
            mark_dead(row, decision.error)
            result.dead += 1
    _insert_attempts(attempts)
    if sent_events:
        events.emit_many(events.EventType.DISPATCH_SENT, sent_events, occurred_at=now)
    _settle_budgets(rows.values(), now=now)
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
    purchase_id: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = ""
    last_status_code: int | None = None
    claimed_until: datetime | None = None
    claim_token: uuid.UUID | None = None
    updated_at: datetime | None = None


def _settle_budgets(rows: Iterable[Any], *, now: datetime) -> None:
    """Budgets (SPEC §13): a dispatch `sent` commits its reservation, a `dead` one releases it."""
    sent, dead = [], []
    for row in rows:
        if row.status == Dispatch.Status.SENT:
            sent.append(dispatch_ref(purchase_id=row.purchase_id, campaign_id=row.campaign_id))
        elif row.status == Dispatch.Status.DEAD:
            dead.append(dispatch_ref(purchase_id=row.purchase_id, campaign_id=row.campaign_id))
    budgets_commit_refs(refs=sent, now=now)
    budgets_release_refs(refs=dead, now=now)


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
