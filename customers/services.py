"""Writes of the customers app: ingestion (customers, events), stats, segments, privacy (SPEC §11).

Customers are created on first sight by `customers_ensure`, one `INSERT … ON CONFLICT (customer_id)`
per request: two requests naming the same new customer at once make one row (the loser's insert
waits for the winner's row lock and updates it), and every new customer gets its `CustomerStats`
row in the same statement, so the DSL never meets a customer without stats.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from core import task_names
from core.audit import REDACTED, audit_record, audit_record_many, changes_between, json_value, model_update
from core.exceptions import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationFailed,
    validate_model,
)
from customers import hooks
from customers.definitions import parse_definition
from customers.models import Customer, CustomerStats, Event, Segment, SegmentMember, SegmentSize
from customers.privacy import customer_id_holders, pseudonym
from customers.selectors import segment_members, segment_preview
from customers.validation import CUSTOMER_FIELDS, customer_id_error, validate_customer, validate_event
from outbox import events
from outbox.models import DomainEvent
from outbox.services import outbox_enqueue

MAX_BATCH_SIZE = 1000
STATS_WINDOW = timedelta(days=90)

CREATED, UPDATED, UNCHANGED, INVALID = "created", "updated", "unchanged", "invalid"
ACCEPTED, DUPLICATE = "accepted", "duplicate"


def _check_batch_size(items: Sequence[Any], what: str) -> None:
    if len(items) > MAX_BATCH_SIZE:
        raise PayloadTooLargeError(
            f"A batch holds at most {MAX_BATCH_SIZE} {what}; this one has {len(items)}.",
            fields={what: [f"Ensure this list has no more than {MAX_BATCH_SIZE} items."]},
        )


def customers_ensure(
    *, customer_ids: Sequence[str], seen_at: datetime | None = None
) -> dict[str, tuple[int, bool]]:
    """Make sure these customers exist: `{customer_id: (pk, created)}`; one statement, race-free.

    `seen_at` moves `last_seen_at` forward (a purchase or an event); an upsert passes None. Ids are
    sorted so that two batches lock the rows they share in the same order (no deadlock).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    customers, stats = Customer._meta.db_table, CustomerStats._meta.db_table
    seen = "GREATEST(c.last_seen_at, EXCLUDED.last_seen_at)" if seen_at is not None else "c.last_seen_at"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH upserted AS (
                INSERT INTO {customers} AS c (customer_id, email, phone, locale, timezone, country, attributes,
                                              created_at, last_seen_at)
                SELECT given.customer_id, '', '', '', '', '', '{{}}'::jsonb, now(), %s
                FROM unnest(%s::text[]) AS given(customer_id) ORDER BY given.customer_id
                ON CONFLICT (customer_id) DO UPDATE SET last_seen_at = {seen}
                RETURNING c.id, c.customer_id, (c.xmax = 0) AS created
            ), new_stats AS (
                INSERT INTO {stats} (customer_id, orders_total, spend_total, orders_90d, spend_90d)
                SELECT id, 0, 0, 0, 0 FROM upserted WHERE created
                ON CONFLICT (customer_id) DO NOTHING
            )
            SELECT customer_id, id, created FROM upserted
            """,  # noqa: S608 - table names are ours, every value is a parameter
            [seen_at, ids],
        )
        return {customer_id: (pk, created) for customer_id, pk, created in cursor.fetchall()}


@dataclass(frozen=True)
class CustomerResult:
    customer_id: Any
    status: str
    errors: dict[str, Any] = field(default_factory=dict)

    def as_response_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"customer_id": self.customer_id, "status": self.status}
        if self.errors:
            item["errors"] = self.errors
        return item


def _merged(customer: Customer, data: dict[str, Any]) -> dict[str, Any]:
    """The new values of the given fields; attributes merge key by key (a null value removes the key)."""
    values: dict[str, Any] = {}
    for name in CUSTOMER_FIELDS:
        if name not in data:
            continue
        if name == "attributes":
            attributes = dict(customer.attributes or {})
            for key, value in data["attributes"].items():
                if value is None:
                    attributes.pop(key, None)
                else:
                    attributes[key] = value
            values[name] = attributes
        else:
            values[name] = data[name]
    return values


@transaction.atomic
def customers_upsert(*, bodies: Sequence[Any], actor: str) -> list[CustomerResult]:
    """Create or update customers (`POST /customers/batch/`); one result per body, in order.

    Only the fields sent are written. The rows are created first (race-free), then locked in
    customer_id order and updated in one statement; an audit event per created or changed customer.
    """
    _check_batch_size(bodies, "customers")
    results: list[CustomerResult | None] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, body in enumerate(bodies):
        data, errors = validate_customer(body)
        if data is None:
            raw = body.get("customer_id") if isinstance(body, dict) else None
            results.append(CustomerResult(raw if isinstance(raw, (str, int)) else None, INVALID, errors))
        else:
            results.append(None)
            valid.append((index, data))
    ensured = customers_ensure(customer_ids=[data["customer_id"] for _, data in valid])
    rows = {
        customer.customer_id: customer
        for customer in Customer.objects.select_for_update()
        .filter(customer_id__in=list(ensured))
        .order_by("customer_id")
    }
    created_audit, updated_audit, dirty = [], [], {}
    before = {customer_id: {n: getattr(c, n) for n in CUSTOMER_FIELDS} for customer_id, c in rows.items()}
    for index, data in valid:
        customer = rows[data["customer_id"]]
        for name, value in _merged(customer, data).items():
            setattr(customer, name, value)
        dirty[customer.customer_id] = customer
        results[index] = CustomerResult(
            customer.customer_id, CREATED if ensured[customer.customer_id][1] else UPDATED
        )
    changed = []
    for customer_id, customer in dirty.items():
        changes = {
            name: {
                "before": json_value(before[customer_id][name]),
                "after": json_value(getattr(customer, name)),
            }
            for name in CUSTOMER_FIELDS
            if json_value(before[customer_id][name]) != json_value(getattr(customer, name))
        }
        if ensured[customer_id][1]:
            created_audit.append((customer, changes))
        elif changes:
            updated_audit.append((customer, changes))
        if changes:
            changed.append(customer)
    if changed:
        Customer.objects.bulk_update(changed, list(CUSTOMER_FIELDS), batch_size=1000)
    if created_audit:
        audit_record_many(actor=actor, action="customer.created", entries=created_audit)
    if updated_audit:
        audit_record_many(actor=actor, action="customer.updated", entries=updated_audit)
    return results  # type: ignore[return-value]


def customer_upsert(*, customer_id: str, body: Any, actor: str) -> tuple[Customer, bool]:
    """`PUT /customers/{customer_id}/`: `(customer, created)`; 400 with the field errors if invalid."""
    if isinstance(body, dict):
        body = {**body, "customer_id": customer_id} if "customer_id" not in body else body
    data, errors = validate_customer(body, customer_id=customer_id)
    if data is None:
        raise ValidationFailed(errors, message="The customer is not valid.")
    (result,) = customers_upsert(bodies=[body], actor=actor)
    return Customer.objects.select_related("stats").get(
        customer_id=result.customer_id
    ), result.status == CREATED


# --- Events


@dataclass(frozen=True)
class EventResult:
    event_id: Any
    status: str
    errors: dict[str, Any] = field(default_factory=dict)

    def as_response_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"event_id": self.event_id, "status": self.status}
        if self.errors:
            item["errors"] = self.errors
        return item


@transaction.atomic
def events_ingest(*, bodies: Sequence[Any]) -> list[EventResult]:
    """Store events (`POST /events/batch/`), idempotent on `event_id`: a replay is `duplicate`.

    One statement for the customers (created on first sight), one for the events
    (`ON CONFLICT (event_id) DO NOTHING`), whatever the batch size.
    """
    _check_batch_size(bodies, "events")
    results: list[EventResult | None] = []
    first: dict[str, Any] = {}
    for body in bodies:
        event, errors = validate_event(body)
        if event is None:
            raw = body.get("event_id") if isinstance(body, dict) else None
            results.append(EventResult(raw if isinstance(raw, (str, int)) else None, INVALID, errors))
            continue
        results.append(None)
        first.setdefault(event.event_id, event)
    if not first:
        return results  # type: ignore[return-value]
    now = timezone.now()
    ensured = customers_ensure(customer_ids=[e.customer_id for e in first.values()], seen_at=now)
    document = orjson.dumps(
        [
            {
                "event_id": e.event_id,
                "customer": ensured[e.customer_id][0],
                "name": e.name,
                "properties": e.properties,
                "occurred_at": e.occurred_at.isoformat(),
            }
            for e in first.values()
        ]
    ).decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Event._meta.db_table} (event_id, customer_id, name, properties, occurred_at, received_at)
            SELECT e.event_id, e.customer, e.name, e.properties, e.occurred_at, now()
            FROM jsonb_to_recordset(%s::jsonb) AS e(event_id text, customer bigint, name text, properties jsonb,
                                                    occurred_at timestamptz)
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id
            """,  # noqa: S608
            [document],
        )
        inserted = {row[0] for row in cursor.fetchall()}
    hooks.events_stored(
        [
            hooks.StoredEvent(e.customer_id, e.name, e.occurred_at)
            for e in first.values()
            if e.event_id in inserted
        ]
    )
    claimed: set[str] = set()
    for index, body in enumerate(bodies):
        if results[index] is not None:
            continue
        event_id = str(body["event_id"])
        if event_id in inserted and event_id not in claimed:
            claimed.add(event_id)
            results[index] = EventResult(event_id, ACCEPTED)
        else:
            results[index] = EventResult(event_id, DUPLICATE)
    return results  # type: ignore[return-value]


def event_ingest(*, body: Any) -> EventResult:
    """`POST /events/`: the result (`accepted` or `duplicate`); 400 with the field errors if invalid."""
    (result,) = events_ingest(bodies=[body])
    if result.status == INVALID:
        raise ApplicationError("The event is not valid.", code="invalid", fields=result.errors)
    return result


# --- Stats


def customer_stats_record(*, purchases: Sequence[tuple[str, datetime, Decimal]], now: datetime) -> None:
    """Add evaluated purchases `(customer_id, purchased_at, total)` to their customers' stats.

    ONE statement for the whole evaluation batch, in its transaction: aggregated per customer, then
    added to the stats rows (`first`/`last` by LEAST/GREATEST). Rows are locked in customer order, so
    concurrent batches cannot deadlock on them. The 90-day figures only grow here; the nightly
    `customers_stats_refresh` lets old purchases fall out of them.
    """
    if not purchases:
        return
    document = orjson.dumps(
        [{"c": customer_id, "at": at.isoformat(), "t": str(total)} for customer_id, at, total in purchases]
    ).decode()
    stats, customers = CustomerStats._meta.db_table, Customer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {stats} AS s (customer_id, first_purchase_at, last_purchase_at, orders_total, spend_total,
                                      orders_90d, spend_90d)
            SELECT c.id, min(p.at), max(p.at), count(*), sum(p.t),
                   count(*) FILTER (WHERE p.at >= %s), coalesce(sum(p.t) FILTER (WHERE p.at >= %s), 0)
            FROM jsonb_to_recordset(%s::jsonb) AS p(c text, at timestamptz, t numeric)
            JOIN {customers} c ON c.customer_id = p.c
            GROUP BY c.id ORDER BY c.id
            ON CONFLICT (customer_id) DO UPDATE SET
                first_purchase_at = LEAST(s.first_purchase_at, EXCLUDED.first_purchase_at),
                last_purchase_at = GREATEST(s.last_purchase_at, EXCLUDED.last_purchase_at),
                orders_total = s.orders_total + EXCLUDED.orders_total,
                spend_total = s.spend_total + EXCLUDED.spend_total,
                orders_90d = s.orders_90d + EXCLUDED.orders_90d,
                spend_90d = s.spend_90d + EXCLUDED.spend_90d
            """,  # noqa: S608
            [now - STATS_WINDOW, now - STATS_WINDOW, document],
        )


@transaction.atomic
def customers_stats_refresh(*, purchases_table: str, now: datetime | None = None) -> int:
    """Nightly: recompute the 90-day figures from the purchases, then the RFM quintiles.

    The purchases table is named by the caller (the purchases app, above this one, owns it).
    Returns the number of customers ranked.
    """
    now = now or timezone.now()
    stats = CustomerStats._meta.db_table
    customers = Customer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {stats} s SET orders_90d = coalesce(w.orders, 0), spend_90d = coalesce(w.spend, 0)
            FROM {stats} s2
            LEFT JOIN (
                SELECT c.id, count(*) AS orders, sum(p.total) AS spend
                FROM {purchases_table} p JOIN {customers} c ON c.customer_id = p.customer_id
                WHERE p.purchased_at >= %s GROUP BY c.id
            ) w ON w.id = s2.customer_id
            WHERE s.customer_id = s2.customer_id
              AND (s.orders_90d, s.spend_90d) IS DISTINCT FROM (coalesce(w.orders, 0), coalesce(w.spend, 0))
            """,  # noqa: S608
            [now - STATS_WINDOW],
        )
    return customers_rfm_refresh(now=now)


@transaction.atomic
def customers_rfm_refresh(*, now: datetime | None = None) -> int:
    """The RFM quintiles with `NTILE(5)`: R ranks `last_purchase_at`, F `orders_90d`, M `spend_90d`
    among the customers who bought in the window (5 = most recent / most frequent / highest spend);
    the others get none. Returns the number of customers ranked."""
    now = now or timezone.now()
    stats = CustomerStats._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH ranked AS (
                SELECT customer_id,
                       NTILE(5) OVER (ORDER BY last_purchase_at) AS r,
                       NTILE(5) OVER (ORDER BY orders_90d) AS f,
                       NTILE(5) OVER (ORDER BY spend_90d) AS m
                FROM {stats} WHERE orders_90d > 0
            )
            UPDATE {stats} s SET r = ranked.r, f = ranked.f, m = ranked.m, rfm_computed_at = %s
            FROM ranked WHERE ranked.customer_id = s.customer_id
            """,  # noqa: S608
            [now],
        )
        ranked = cursor.rowcount
        cursor.execute(
            f"UPDATE {stats} SET r = NULL, f = NULL, m = NULL, rfm_computed_at = %s"  # noqa: S608
            " WHERE orders_90d = 0 AND (r IS NOT NULL OR f IS NOT NULL OR m IS NOT NULL)",
            [now],
        )
    return ranked


# --- Segments


def _segment_values(segment: Segment) -> dict[str, Any]:
    return {"name": segment.name, "kind": segment.kind, "definition": segment.definition}


def _checked_definition(kind: str, definition: Any) -> dict[str, Any]:
    if kind == Segment.Kind.STATIC:
        if definition not in (None, {}):
            raise ValidationFailed(
                {"definition": ["A static segment has no definition: upload its members (CSV)."]}
            )
        return {}
    parse_definition(definition)
    return definition


def _save_segment(segment: Segment) -> None:
    try:
        with transaction.atomic():
            validate_model(segment)
            segment.save()
    except IntegrityError as error:
        if Segment.NAME_UNIQUE_CONSTRAINT in str(error):
            raise ValidationFailed({"name": ["A segment with this name already exists."]}) from None
        raise


def _estimate_size(segment: Segment) -> None:
    if segment.kind == Segment.Kind.DYNAMIC:
        segment.estimated_size = segment_preview(definition=segment.definition).estimate


@transaction.atomic
def segment_create(*, name: str, definition: Any = None, kind: str = "dynamic", actor: str) -> Segment:
    """A new segment; a dynamic one is validated and gets its size estimate at once."""
    if kind not in Segment.Kind.values:
        raise ValidationFailed({"kind": ["Must be dynamic or static."]})
    segment = Segment(name=name, kind=kind, definition=_checked_definition(kind, definition))
    _estimate_size(segment)
    _save_segment(segment)
    audit_record(
        actor=actor,
        action="segment.created",
        obj_or_type=segment,
        changes=changes_between(None, _segment_values(segment)),
    )
    return segment


@transaction.atomic
def segment_update(*, segment_id: int, data: dict[str, Any], actor: str) -> Segment:
    """Rename or redefine a segment (its kind is fixed); a new definition bumps `version`."""
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError(f"No segment with id {segment_id}.")
    if "kind" in data and data["kind"] != segment.kind:
        raise ValidationFailed({"kind": ["The kind of a segment cannot change; create another segment."]})
    if "definition" in data:
        data = {**data, "definition": _checked_definition(segment.kind, data["definition"])}
    changes = model_update(segment, data, fields=["name", "definition"])
    if changes:
        if "definition" in changes:
            segment.version += 1
            _estimate_size(segment)
        _save_segment(segment)
        audit_record(actor=actor, action="segment.updated", obj_or_type=segment, changes=changes)
    return segment


@transaction.atomic
def segment_delete(*, segment_id: int, actor: str) -> None:
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError(f"No segment with id {segment_id}.")
    values = _segment_values(segment)
    try:
        with transaction.atomic():
            segment.delete()
    except ProtectedError:
        raise ConflictError(
            "Campaigns target this segment: remove it from them first.", code="segment_in_use"
        ) from None
    audit_record(
        actor=actor,
        action="segment.deleted",
        obj_or_type=Segment,
        object_id=segment_id,
        changes=changes_between(values, None),
    )


@transaction.atomic
def segment_compute_request(*, segment_id: int, actor: str) -> Segment:
    """`POST /segments/{id}/compute/`: enqueue the exact count (a job); the audit says who asked."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError(f"No segment with id {segment_id}.")
    outbox_enqueue(task_name=task_names.COMPUTE_SEGMENT, args=[segment.pk])
    audit_record(
        actor=actor,
        action="segment.compute_requested",
        obj_or_type=segment,
        changes={"size": {"before": segment.size, "after": "computing"}},
    )
    return segment


@transaction.atomic
def segment_compute(*, segment_id: int) -> SegmentSize:
    """The exact size of a segment now: stored on it and appended to its size history (the job)."""
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError(f"No segment with id {segment_id}.")
    started = time.perf_counter()
    now = timezone.now()
    size = segment_members(segment=segment, now=now).count()
    elapsed = round((time.perf_counter() - started) * 1000)
    Segment.objects.filter(pk=segment.pk).update(size=size, computed_at=now)
    events.emit(
        events.EventType.SEGMENT_COMPUTED,
        {"segment_id": segment.pk, "name": segment.name, "size": size, "computed_at": now},
        occurred_at=now,
    )
    hooks.segment_computed(segment)
    return SegmentSize.objects.create(segment=segment, size=size, computed_at=now, duration_ms=elapsed)


@dataclass(frozen=True)
class MembersImport:
    members: int
    created_customers: int


@transaction.atomic
def segment_members_import_csv(*, segment_id: int, content: bytes | str, actor: str) -> MembersImport:
    """Replace a static segment's members with the customer ids of a CSV (one per row; a
    `customer_id` header is optional). Unknown customers are created on first sight. All or nothing."""
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError(f"No segment with id {segment_id}.")
    if segment.kind != Segment.Kind.STATIC:
        raise ConflictError("Only a static segment takes a members CSV.", code="segment_not_static")
    ids, errors = parse_members_csv(content)
    if errors:
        raise ValidationFailed({"file": errors}, message="The CSV has errors; nothing was imported.")
    ensured = customers_ensure(customer_ids=ids)
    before = segment.members.count()
    segment.members.all().delete()
    SegmentMember.objects.bulk_create(
        [
            SegmentMember(segment=segment, customer_id=ensured[customer_id][0])
            for customer_id in sorted(set(ids))
        ],
        batch_size=5000,
    )
    size = len(set(ids))
    Segment.objects.filter(pk=segment.pk).update(
        size=size, estimated_size=size, computed_at=timezone.now(), version=F("version") + 1
    )
    SegmentSize.objects.create(segment=segment, size=size, computed_at=timezone.now())
    events.emit(
        events.EventType.SEGMENT_COMPUTED,
        {"segment_id": segment.pk, "name": segment.name, "size": size, "computed_at": timezone.now()},
    )
    hooks.segment_computed(segment)
    audit_record(
        actor=actor,
        action="segment.members_imported",
        obj_or_type=segment,
        changes={"members": {"before": before, "after": size}},
    )
    return MembersImport(members=size, created_customers=sum(1 for _, created in ensured.values() if created))


MAX_CSV_MEMBERS = 1_000_000


def parse_members_csv(content: bytes | str) -> tuple[list[str], list[str]]:
    """Customer ids of a members CSV, or the row errors (`row N: …`)."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return [], ["The file is not UTF-8 text."]
    ids: list[str] = []
    errors: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(content)), start=1):
        if not row or not "".join(row).strip():
            continue
        value = row[0].strip()
        if number == 1 and value.lower() == "customer_id":
            continue
        if len(row) > 1 and any(cell.strip() for cell in row[1:]):
            errors.append(f"row {number}: one column only (the customer_id)")
        elif problem := customer_id_error(value):
            errors.append(f"row {number}: {problem['customer_id'][0]}")
        else:
            ids.append(value)
        if len(errors) >= 20:
            errors.append("… (first 20 errors)")
            break
    if not ids and not errors:
        errors.append("The file has no customer ids.")
    if len(ids) > MAX_CSV_MEMBERS:
        errors.append(f"At most {MAX_CSV_MEMBERS} customers per file.")
    return ids, errors


# --- Privacy


@dataclass(frozen=True)
class Erasure:
    pseudonym: str
    replaced: dict[str, int]  # label → rows whose customer id is now the pseudonym
    scrubbed: dict[str, int]  # label → rows whose personal data the apps above removed (hooks)
    events_deleted: int


@transaction.atomic
def customer_erase(*, customer_id: str, actor: str) -> Erasure:
    """Erase a customer (`DELETE /customers/{id}/`, SPEC §11): personal fields and events go; purchases,
    evaluations, dispatches, awards… stay, their customer id replaced by a salted hash.

    The customer row stays under that pseudonym with its stats (aggregates, nothing personal), so
    campaign and segment figures still add up. The audit event names the pseudonym, never the id.
    """
    customer = (
        Customer.objects.select_for_update().filter(customer_id=customer_id, erased_at__isnull=True).first()
    )
    if customer is None:
        raise NotFoundError(f"No customer with customer_id {customer_id!r}.")
    alias = pseudonym(schema=connection.schema_name, customer_id=customer_id)
    replaced = {
        model._meta.label_lower: model.objects.filter(customer_id=customer_id).update(customer_id=alias)
        for model in customer_id_holders()
    }
    domain_events = events.events_pseudonymise_customer(customer_id=customer_id, alias=alias)
    if domain_events:
        replaced[DomainEvent._meta.label_lower] = domain_events
    scrubbed = hooks.customer_erased(alias)
    events_deleted, _ = Event.objects.filter(customer=customer).delete()
    SegmentMember.objects.filter(customer=customer).delete()
    erased = [name for name in CUSTOMER_FIELDS if getattr(customer, name) not in ("", None, {})]
    earlier = Customer.objects.select_for_update().filter(customer_id=alias).first()
    if earlier is not None:
        # The same id was erased before and came back (a new purchase): one pseudonymous row, whose
        # stats now hold both lives' purchases, as the pseudonymised purchases do.
        _merge_stats(into=earlier, source=customer)
        Customer.objects.filter(pk=customer.pk).delete()
    Customer.objects.filter(pk=(earlier or customer).pk).update(
        customer_id=alias,
        email="",
        phone="",
        locale="",
        timezone="",
        country="",
        lat=None,
        lon=None,
        attributes={},
        last_seen_at=None,
        erased_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="customer.erased",
        obj_or_type=earlier or customer,
        changes={
            "customer_id": {"before": REDACTED, "after": alias},
            **{name: {"before": REDACTED, "after": None} for name in erased},
            "events": {"before": events_deleted, "after": 0},
            **{
                label: {"before": count, "after": f"{count} pseudonymised"}
                for label, count in replaced.items()
                if count
            },
            **{
                f"{label} personal data": {"before": count, "after": f"{count} scrubbed"}
                for label, count in scrubbed.items()
                if count
            },
        },
    )
    return Erasure(pseudonym=alias, replaced=replaced, scrubbed=scrubbed, events_deleted=events_deleted)


def _merge_stats(*, into: Customer, source: Customer) -> None:
    stats = CustomerStats._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {stats} s SET
                first_purchase_at = LEAST(s.first_purchase_at, o.first_purchase_at),
                last_purchase_at = GREATEST(s.last_purchase_at, o.last_purchase_at),
                orders_total = s.orders_total + o.orders_total, spend_total = s.spend_total + o.spend_total,
                orders_90d = s.orders_90d + o.orders_90d, spend_90d = s.spend_90d + o.spend_90d
            FROM {stats} o WHERE s.customer_id = %s AND o.customer_id = %s
            """,  # noqa: S608
            [into.pk, source.pk],
        )
