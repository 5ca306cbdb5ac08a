"""Entry into journeys and the events that end or wake enrollments (SPEC §19).

`enroll` writes enrollments of one journey in one INSERT … SELECT: a customer already on the
journey (a live enrollment) or barred by `re_entry` (never, or entered less than `re_entry_days`
ago) is left out, and the partial unique index `enrollment_one_live_per_customer` settles two
concurrent entries (ON CONFLICT DO NOTHING), so a customer is never on a journey twice at once.

The customers app calls the two listeners below inside its own transaction (customers/hooks.py):
new events enrol customers into journeys entered by that event name, end the live enrollments
of journeys whose `exit_event` it is, and wake enrollments waiting for it (the executor then
checks the event itself, so an early wake is harmless). A computed segment enrols its members
into the active journeys it enters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from customers.hooks import StoredEvent
from customers.selectors import segment_members
from journeys.models import Enrollment, Journey, JourneyStep
from tenants.work_due import work_due_at

ENROLL_CHUNK = 5000


def first_step_key(journey: Journey) -> str:
    return (
        JourneyStep.objects.filter(journey=journey, version=journey.version)
        .order_by("position")
        .values_list("key", flat=True)
        .first()
        or ""
    )


def enroll(*, journey: Journey, customer_ids: Iterable[str], now: datetime | None = None) -> list[str]:
    """Enrol these customers into the journey's current version; the ids actually enrolled."""
    now = now or timezone.now()
    first = first_step_key(journey)
    ids = sorted(set(customer_ids))
    if not first or not ids:
        return []
    never = journey.re_entry == Journey.ReEntry.NEVER
    cutoff = now - timedelta(days=journey.re_entry_days or 0)
    table = Enrollment._meta.db_table
    enrolled: list[str] = []
    with connection.cursor() as cursor:
        for start in range(0, len(ids), ENROLL_CHUNK):
            cursor.execute(
                f"""
                INSERT INTO {table} (journey_id, version, customer_id, state, step_key, next_run_at,
                                     step_entered_at, variant, exit_reason, entered_at)
                SELECT %(journey)s, %(version)s, c.id, 'active', %(first)s, %(now)s, %(now)s, '', '', %(now)s
                FROM unnest(%(ids)s::text[]) AS c(id)
                WHERE NOT EXISTS (
                    SELECT 1 FROM {table} e
                    WHERE e.journey_id = %(journey)s AND e.customer_id = c.id
                      AND (e.state IN ('active', 'waiting') OR %(never)s OR e.entered_at > %(cutoff)s)
                )
                ON CONFLICT DO NOTHING
                RETURNING customer_id
                """,  # noqa: S608 - the table name is the model's
                {
                    "journey": journey.pk,
                    "version": journey.version,
                    "first": first,
                    "now": now,
                    "ids": ids[start : start + ENROLL_CHUNK],
                    "never": never,
                    "cutoff": cutoff,
                },
            )
            enrolled += [row[0] for row in cursor.fetchall()]
    if enrolled:
        work_due_at(at=now)
    return enrolled


def enroll_segment_members(*, journey: Journey, now: datetime | None = None) -> int:
    """Enrol the current members of the journey's entry segment (on compute, or by the tick)."""
    now = now or timezone.now()
    if journey.entry_segment is None:
        return 0
    ids = list(segment_members(segment=journey.entry_segment, now=now).values_list("customer_id", flat=True))
    Journey.objects.filter(pk=journey.pk).update(segment_checked_at=now)
    return len(enroll(journey=journey, customer_ids=ids, now=now))


def on_events_ingested(events: Sequence[StoredEvent]) -> None:
    """customers' events listener: entry, exit and wake-ups for the stored events (one query when no
    active journey cares)."""
    names = {e.name for e in events}
    journeys = list(
        Journey.objects.filter(status=Journey.Status.ACTIVE).only(
            "id", "version", "entry_event", "exit_event", "re_entry", "re_entry_days", "status"
        )
    )
    if not journeys:
        return
    now = timezone.now()
    by_name: dict[str, set[str]] = defaultdict(set)
    for event in events:
        by_name[event.name].add(event.customer_id)
    for journey in journeys:
        if journey.exit_event and journey.exit_event in names:
            Enrollment.objects.filter(
                journey=journey, customer_id__in=by_name[journey.exit_event], state__in=["active", "waiting"]
            ).update(
                state=Enrollment.State.EXITED, exit_reason="exit_event", finished_at=now, next_run_at=None
            )
    for journey in journeys:
        if journey.entry_event and journey.entry_event in names:
            enroll(journey=journey, customer_ids=by_name[journey.entry_event], now=now)
    _wake_waiting(by_name, now)


def _wake_waiting(by_name: dict[str, set[str]], now: datetime) -> None:
    customers = sorted(set().union(*by_name.values()))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Enrollment._meta.db_table} AS e SET next_run_at = %(now)s
            FROM {JourneyStep._meta.db_table} AS s
            WHERE e.state = 'waiting' AND e.customer_id = ANY(%(customers)s) AND e.next_run_at > %(now)s
              AND s.journey_id = e.journey_id AND s.version = e.version AND s.key = e.step_key
              AND s.kind = 'wait_for_event' AND s.event_name = ANY(%(names)s)
            """,  # noqa: S608 - table names are the models'
            {"now": now, "customers": customers, "names": sorted(by_name)},
        )
        woken = cursor.rowcount
    if woken:
        work_due_at(at=now)


def on_segment_computed(segment: Any) -> None:
    """customers' segment listener: the members of a freshly computed segment enter its journeys."""
    for journey in Journey.objects.filter(status=Journey.Status.ACTIVE, entry_segment=segment).select_related(
        "entry_segment"
    ):
        enroll_segment_members(journey=journey)
