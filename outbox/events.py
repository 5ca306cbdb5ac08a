"""Domain events (SPEC §15): `emit(event_type, data)` in the transaction that causes them.

Lower apps (campaigns, purchases, dispatches, awards, customers …) must not import the apps that
react to what they do (the layers of ARCHITECTURE.md). They record a `DomainEvent` row here, in
their own transaction, with one line:

    events.emit(events.EventType.AWARD_CREATED, {"award_id": …})

and the `webhooks` app fans the rows out to the brand's subscribed endpoints, at least once
(docs/adr/0022-outgoing-webhooks.md). The row commits with the change or rolls back with it.

The hot path pays nothing when no endpoint listens: `emit` writes only event types that some
enabled endpoint of the brand subscribes to. That set is read through a lookup the webhooks app
registers at start (`register_subscription_lookup`: dependency inversion, no upward import),
cached in Redis per brand (tenant-prefixed key) and memoised in the process for
`LOCAL_MEMO_SECONDS`: a batch of purchases costs no query and no round trip for it. The webhooks
services call `subscriptions_changed()` on every endpoint change; another process sees a change
within `LOCAL_MEMO_SECONDS` (an event emitted in that window to a type nobody subscribed to before
is not delivered to the new endpoint, as with any webhook created after the event).

After commit, one fan-out task is sent per transaction (`FAN_OUT_WEBHOOK_EVENTS`); if the broker is
down, the brand's maintenance tick (which sees pending events, monitoring/maintenance.py) fans out.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app
from core import task_names
from core.logging import request_id_var
from outbox.models import DomainEvent
from tenants.work_due import work_due_soon

logger = logging.getLogger(__name__)


class EventType:
    """Every event type of SPEC §15, and who emits it (the ADR lists the same)."""

    PURCHASE_EVALUATED = "purchase.evaluated"  # purchases: the evaluation batch
    DISPATCH_SENT = "dispatch.sent"  # dispatches: the recording of an attempt
    DISPATCH_DEAD = "dispatch.dead"  # dispatches: mark_dead
    AWARD_CREATED = "award.created"  # awards: award_receive
    CAMPAIGN_STATUS_CHANGED = "campaign.status_changed"  # campaigns: every lifecycle transition
    BUDGET_THRESHOLD = "budget.threshold"  # campaigns' budgets (issue of budgets, §13)
    REDEMPTION_COMMITTED = "redemption.committed"  # promotions (issue of promo codes, §12)
    REDEMPTION_ROLLED_BACK = "redemption.rolled_back"  # promotions (issue of promo codes, §12)
    MESSAGE_BOUNCED = "message.bounced"  # notifications (§14, issue 19's messages half)
    EXPERIMENT_CONCLUDED = "experiment.concluded"  # experiments (§16)
    SEGMENT_COMPUTED = "segment.computed"  # customers: segment_compute / members import
    # Not subscribable: sent to one endpoint by `POST /webhooks/{id}/test/`.
    WEBHOOK_TEST = "webhook.test"


# What an endpoint may subscribe to, in SPEC §15's order.
SUBSCRIBABLE_EVENT_TYPES: tuple[str, ...] = (
    EventType.PURCHASE_EVALUATED,
    EventType.DISPATCH_SENT,
    EventType.DISPATCH_DEAD,
    EventType.AWARD_CREATED,
    EventType.CAMPAIGN_STATUS_CHANGED,
    EventType.BUDGET_THRESHOLD,
    EventType.REDEMPTION_COMMITTED,
    EventType.REDEMPTION_ROLLED_BACK,
    EventType.MESSAGE_BOUNCED,
    EventType.EXPERIMENT_CONCLUDED,
    EventType.SEGMENT_COMPUTED,
)

LOCAL_MEMO_SECONDS = 2.0
CACHE_SECONDS = 30
_CACHE_KEY = "events:subscribed-types"

_lookup: Callable[[], Iterable[str]] | None = None
# schema → (monotonic expiry, subscribed types)
_memo: dict[str, tuple[float, frozenset[str]]] = {}


def register_subscription_lookup(lookup: Callable[[], Iterable[str]]) -> None:
    """The subscribers' app (webhooks) tells which event types the current brand listens to."""
    global _lookup
    _lookup = lookup
    _memo.clear()


def subscriptions_changed() -> None:
    """An endpoint was created, changed or deleted in the current brand: forget the cached set."""
    _memo.pop(connection.schema_name, None)
    try:
        cache.delete(_CACHE_KEY)
    except Exception as exc:  # Redis down: other processes may keep the old set for CACHE_SECONDS
        logger.warning("event subscription cache unreachable", extra={"error": str(exc)[:200]})


def subscribed_event_types() -> frozenset[str]:
    """The event types some enabled endpoint of the current brand subscribes to (cached, see above)."""
    if _lookup is None:
        return frozenset()
    schema = connection.schema_name
    memo = _memo.get(schema)
    now = time.monotonic()
    if memo is not None and memo[0] > now:
        return memo[1]
    try:
        types = cache.get(_CACHE_KEY)
    except Exception as exc:  # Redis down: the database answers; an event is never lost to the cache
        logger.warning("event subscription cache unreachable", extra={"error": str(exc)[:200]})
        types = None
    if types is None:
        types = sorted(set(_lookup()))
        try:
            cache.set(_CACHE_KEY, types, timeout=CACHE_SECONDS)
        except Exception as exc:
            logger.warning("event subscription cache unreachable", extra={"error": str(exc)[:200]})
    subscribed = frozenset(types)
    _memo[schema] = (now + LOCAL_MEMO_SECONDS, subscribed)
    return subscribed


def is_subscribed(event_type: str) -> bool:
    return event_type in subscribed_event_types()


def emit(
    event_type: str, data: Mapping[str, Any], *, occurred_at: datetime | None = None
) -> DomainEvent | None:
    """Record one event in the current transaction (None: nobody listens to this type)."""
    occurred_at = occurred_at or timezone.now()
    ids = emit_many(event_type, [data], occurred_at=occurred_at)
    if not ids:
        return None
    event = DomainEvent(id=ids[0], event_type=event_type, data=dict(data), occurred_at=occurred_at)
    event._state.adding = False
    return event


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # as DjangoJSONEncoder: "5.00" keeps its places
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_many(
    event_type: str, items: Iterable[Mapping[str, Any]], *, occurred_at: datetime | None = None
) -> list[uuid.UUID]:
    """Record events of one type in one INSERT (a batch of purchases, of dispatch outcomes); their ids.

    The rows travel as one JSON document (orjson: UUIDs, datetimes; decimals as strings), one
    parameter to quote: several times cheaper than `bulk_create` building a model instance per row.
    """
    if event_type not in subscribed_event_types():
        return []
    occurred_at = occurred_at or timezone.now()
    rows = [{"id": uuid.uuid4(), "data": data} for data in items]
    if not rows:
        return []
    document = orjson.dumps(rows, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {DomainEvent._meta.db_table} (id, event_type, data, occurred_at, request_id)
            SELECT e.id, %s, e.data, %s, %s FROM jsonb_to_recordset(%s::jsonb) AS e(id uuid, data jsonb)
            """,  # noqa: S608 - the table name is the model's, every value a parameter
            [event_type, occurred_at, request_id_var.get() or "", document],
        )
        _fan_out_after_commit()
    return [row["id"] for row in rows]


def _fan_out_after_commit() -> None:
    """One fan-out message per transaction, however many events it emitted."""
    if any(callback is _send_fan_out for _sids, callback, _robust in connection.run_on_commit):
        return
    transaction.on_commit(_send_fan_out)


def _send_fan_out() -> None:
    try:
        app.send_task(task_names.FAN_OUT_WEBHOOK_EVENTS)
    except Exception:  # the broker is down: the brand's next maintenance tick fans out
        logger.warning("could not send the webhook fan-out; the maintenance tick will", exc_info=True)
        try:
            work_due_soon()
        except Exception:
            logger.exception("could not record the brand's work due")


def events_pseudonymise_customer(*, customer_id: str, alias: str) -> int:
    """Replace an erased customer's id in the events' data (webhook bodies are built from it).

    A scan of the brand's events, not an index: erasure is rare, and events are purged with the
    webhook history (SPEC §15 retention).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {DomainEvent._meta.db_table}
            SET data = jsonb_set(data, '{{customer_id}}', to_jsonb(%s::text))
            WHERE data ->> 'customer_id' = %s
            """,  # noqa: S608 - the table name is the model's, every value a parameter
            [alias, customer_id],
        )
        return cursor.rowcount
