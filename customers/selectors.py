"""Reads of the customers app."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.audit import json_value
from core.exceptions import NotFoundError
from customers.definitions import parse_definition
from customers.dsl_sql import compile_sql
from customers.models import BUCKETS, STATS_FIELDS, Customer, CustomerStats, Segment, SegmentSize
from customers.privacy import customer_id_holders


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _decimal(value: Decimal) -> str:
    """Spend as exact decimal text (sums of purchase totals as sent, in the brand's currency)."""
    return format(value.normalize(), "f") if value else "0"


def customer_list() -> QuerySet[Customer]:
    return Customer.objects.select_related("stats").order_by("customer_id")


def customer_get(*, customer_id: str) -> Customer:
    customer = Customer.objects.select_related("stats").filter(customer_id=customer_id).first()
    if customer is None:
        raise NotFoundError(f"No customer with customer_id {customer_id!r}.")
    return customer


def stats_data(stats: CustomerStats | None) -> dict[str, Any]:
    if stats is None:
        return {name: None for name in STATS_FIELDS} | {"orders_total": 0, "orders_90d": 0}
    return {
        "first_purchase_at": _iso(stats.first_purchase_at),
        "last_purchase_at": _iso(stats.last_purchase_at),
        "orders_total": stats.orders_total,
        "spend_total": _decimal(stats.spend_total),
        "orders_90d": stats.orders_90d,
        "spend_90d": _decimal(stats.spend_90d),
        "r": stats.r,
        "f": stats.f,
        "m": stats.m,
    }


def customer_data(customer: Customer, *, with_stats: bool = True) -> dict[str, Any]:
    """SPEC §11 shape of a customer (`GET /customers/{customer_id}/` adds its stats)."""
    data = {
        "customer_id": customer.customer_id,
        "email": customer.email or None,
        "phone": customer.phone or None,
        "locale": customer.locale or None,
        "timezone": customer.timezone or None,
        "country": customer.country or None,
        "lat": customer.lat,
        "lon": customer.lon,
        "attributes": customer.attributes,
        "created_at": _iso(customer.created_at),
        "last_seen_at": _iso(customer.last_seen_at),
    }
    if with_stats:
        data["stats"] = stats_data(getattr(customer, "stats", None))
    return data


# --- Segments

# A preview reads the customers of the first buckets, enough of them for about this many customers
# (the buckets are random, so they are a uniform sample of the brand's customers).
PREVIEW_SAMPLE = 20_000
SAMPLE_IDS = 10
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Preview:
    estimate: int
    ci95: tuple[int, int]
    sample: list[str]
    sampled: int
    population: int

    def as_response(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "ci95": list(self.ci95),
            "sample": self.sample,
            "sampled": self.sampled,
            "population": self.population,
        }


def wilson_interval(matches: int, sampled: int, population: int) -> tuple[int, int]:
    """95 % Wilson score interval of `matches / sampled`, scaled to the population (with the
    finite-population correction: a sample of everyone is exact)."""
    if sampled == 0:
        return (0, population)
    if sampled >= population:
        return (matches, matches)
    p = matches / sampled
    fpc = math.sqrt((population - sampled) / (population - 1)) if population > 1 else 0.0
    z = Z95 * fpc
    centre = (p + z * z / (2 * sampled)) / (1 + z * z / sampled)
    half = z * math.sqrt(p * (1 - p) / sampled + z * z / (4 * sampled * sampled)) / (1 + z * z / sampled)
    low = max(matches, math.floor((centre - half) * population))
    high = min(population - (sampled - matches), math.ceil((centre + half) * population))
    return (low, max(low, high))


def _definition_q(definition: Any, now: datetime) -> Q:
    return compile_sql(parse_definition(definition), now=now)


def segment_preview(*, definition: Any, now: datetime | None = None) -> Preview:
    """An estimate of a definition's size with its 95 % interval and a few matching customer ids.

    Counts the matches among the customers of the lowest buckets (about PREVIEW_SAMPLE customers)
    and scales by the exact number of customers. Raises ValidationFailed for a bad definition.
    """
    now = now or timezone.now()
    q = _definition_q(definition, now)
    population = Customer.objects.count()
    if population == 0:
        return Preview(0, (0, 0), [], 0, 0)
    buckets = min(BUCKETS, max(1, math.ceil(BUCKETS * PREVIEW_SAMPLE / population)))
    in_sample = Customer.objects.filter(bucket__lt=buckets)
    sampled = population if buckets >= BUCKETS else in_sample.count()
    matching = in_sample.filter(q)
    matches = matching.count()
    sample = list(matching.order_by("bucket", "id").values_list("customer_id", flat=True)[:SAMPLE_IDS])
    if sampled >= population:
        return Preview(matches, (matches, matches), sample, sampled, population)
    estimate = round(matches / sampled * population) if sampled else 0
    return Preview(estimate, wilson_interval(matches, sampled, population), sample, sampled, population)


def segment_get(*, segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFoundError(f"No segment with id {segment_id}.")
    return segment


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.order_by("name")


def segment_members(*, segment: Segment, now: datetime | None = None) -> QuerySet[Customer]:
    """The segment's customers now: the definition's (dynamic) or the uploaded list (static)."""
    if segment.kind == Segment.Kind.STATIC:
        return Customer.objects.filter(segment_memberships__segment=segment).order_by("customer_id")
    return Customer.objects.filter(_definition_q(segment.definition, now or timezone.now())).order_by(
        "customer_id"
    )


def customer_segment_names(*, customer: Customer, now: datetime | None = None) -> list[str]:
    """The segments a customer is in now: static by membership, dynamic by their definition evaluated
    on the customer's snapshot (the Python compiler: one snapshot query, no query per segment)."""
    from customers.dsl import event_names, max_window_days, parse_tree
    from customers.dsl_python import compile_python
    from customers.snapshots import customer_snapshots

    now = now or timezone.now()
    segments = list(Segment.objects.order_by("name"))
    trees = {
        s.pk: parse_tree(s.definition) for s in segments if s.kind == Segment.Kind.DYNAMIC and s.definition
    }
    names = set().union(*(event_names(tree) for tree in trees.values())) if trees else set()
    days = max((max_window_days(tree) for tree in trees.values()), default=0)
    snapshot = customer_snapshots(
        customer_ids=[customer.customer_id], event_names=names, events_since=now - timedelta(days=days)
    ).get(customer.customer_id)
    if snapshot is None:
        return []
    return [
        s.name
        for s in segments
        if (s.pk in snapshot.segment_ids)
        or (s.pk in trees and compile_python(trees[s.pk])(snapshot, None, now))
    ]


def segment_data(segment: Segment, *, history: int = 0) -> dict[str, Any]:
    data = {
        "id": segment.pk,
        "name": segment.name,
        "kind": segment.kind,
        "definition": segment.definition,
        "estimated_size": segment.estimated_size,
        "size": segment.size,
        "computed_at": _iso(segment.computed_at),
        "version": segment.version,
        "created_at": _iso(segment.created_at),
        "updated_at": _iso(segment.updated_at),
    }
    if history:
        data["size_history"] = [
            {"size": row.size, "computed_at": _iso(row.computed_at), "duration_ms": row.duration_ms}
            for row in SegmentSize.objects.filter(segment=segment)[:history]
        ]
    return data


# --- Privacy


def customer_export(*, customer_id: str) -> dict[str, Any]:
    """Everything the brand holds about a customer (`GET /customers/{id}/export/`), as JSON.

    The profile and stats, the events, the static segments, and the rows of every other app that
    names the customer (purchases with their evaluations, awards, notifications, tokens…).
    """
    customer = customer_get(customer_id=customer_id)
    events = [
        {
            "event_id": event.event_id,
            "name": event.name,
            "properties": event.properties,
            "occurred_at": _iso(event.occurred_at),
            "received_at": _iso(event.received_at),
        }
        for event in customer.events.order_by("occurred_at", "id")
    ]
    segments = list(
        Segment.objects.filter(members__customer=customer).order_by("name").values_list("name", flat=True)
    )
    held: dict[str, list[dict[str, Any]]] = {}
    for model in customer_id_holders():
        rows = []
        for row in model.objects.filter(customer_id=customer.customer_id).order_by("pk"):
            item = {
                field.attname: json_value(field.value_from_object(row))
                for field in model._meta.concrete_fields
            }
            if model._meta.label_lower == "purchases.purchase":
                item["evaluations"] = [
                    {name: json_value(value) for name, value in evaluation.items()}
                    for evaluation in row.evaluations.values(  # type: ignore[attr-defined]
                        "campaign_id",
                        "campaign_version",
                        "eligible",
                        "eligible_value",
                        "reason",
                        "evaluated_at",
                    )
                ]
            rows.append(item)
        held[model._meta.label_lower] = rows
    return {
        "customer": customer_data(customer),
        "events": events,
        "segments": segments,
        "records": held,
    }
