"""Customer snapshots for the rules engine: a batch's customers loaded in ONE query.

The pure compiler (`customers.dsl_python`) needs the profile, the stats, the static segments and the
recent events of the names the rules look at; this reads them all at once for a batch of purchases.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import orjson
from django.db import connection

from customers.dsl_python import CustomerSnapshot, EventFact
from customers.models import STATS_FIELDS, Customer, CustomerStats, Event, SegmentMember


def customer_snapshots(
    *,
    customer_ids: Collection[str],
    event_names: Collection[str] = (),
    events_since: datetime | None = None,
    with_segments: bool = True,
) -> dict[str, CustomerSnapshot]:
    """`{customer_id: snapshot}` of the known customers among `customer_ids` (one query).

    Events are read only for `event_names` since `events_since`, static memberships only
    `with_segments`: the rules of a batch say what they need, and the query reads no more.
    """
    if not customer_ids:
        return {}
    stats_columns = ", ".join(f"s.{name}" for name in STATS_FIELDS)
    load_events = bool(event_names) and events_since is not None
    params: list = []
    segments = "NULL"
    if with_segments:
        segments = (
            f"ARRAY(SELECT m.segment_id FROM {SegmentMember._meta.db_table} m WHERE m.customer_id = c.id)"  # noqa: S608
        )
    events_columns, events_join = "NULL, NULL, NULL", ""
    if load_events:
        events_columns = "ev.names, ev.ats, ev.props"
        events_join = f"""
            LEFT JOIN LATERAL (
                SELECT array_agg(e.name) AS names, array_agg(e.occurred_at) AS ats, array_agg(e.properties) AS props
                FROM {Event._meta.db_table} e
                WHERE e.customer_id = c.id AND e.name = ANY(%s) AND e.occurred_at >= %s
            ) ev ON true"""  # noqa: S608 - the table name is ours
        params += [list(event_names), events_since]
    params.append(list(customer_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.customer_id, c.country, c.locale, c.lat, c.lon, c.attributes, {stats_columns},
                   {segments}, {events_columns}
            FROM {Customer._meta.db_table} c
            LEFT JOIN {CustomerStats._meta.db_table} s ON s.customer_id = c.id{events_join}
            WHERE c.customer_id = ANY(%s)
            """,  # noqa: S608 - table names are ours, values are parameters
            params,
        )
        rows = cursor.fetchall()
    snapshots = {}
    width = len(STATS_FIELDS)
    for row in rows:
        customer_id, country, locale, lat, lon, attributes = row[:6]
        stats = dict(zip(STATS_FIELDS, row[6 : 6 + width], strict=True))
        segment_ids, names, ats, props = row[6 + width :]
        events = (
            tuple(EventFact(n, a, _json(p)) for n, a, p in zip(names, ats, props, strict=True))
            if names
            else ()
        )
        snapshots[customer_id] = CustomerSnapshot(
            customer_id=customer_id,
            country=country,
            locale=locale,
            lat=lat,
            lon=lon,
            attributes=_json(attributes),
            stats=stats,
            events=events,
            segment_ids=frozenset(segment_ids) if segment_ids else frozenset(),
        )
    return snapshots


def _json(value: object) -> dict:
    """Django's psycopg setup hands jsonb over as text."""
    document = orjson.loads(value) if isinstance(value, (str, bytes)) else value
    return document if isinstance(document, dict) else {}
