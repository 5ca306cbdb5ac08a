"""Listeners of customers' writes, registered by the apps above (ADR 0011: no upward import).

`events_ingest` tells every events listener about the events it stored (not the duplicates), and
`segment_compute` tells every segment listener about the segment it counted, and `customer_erase`
tells every erasure listener the pseudonym that replaced an erased customer's id, inside the
writer's transaction: what a listener writes commits or rolls back with the events, the count or
the erasure. A listener must be cheap when it has nothing to do (journeys: one indexed query per
batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredEvent:
    customer_id: str
    name: str
    occurred_at: datetime


EventsListener = Callable[[Sequence[StoredEvent]], None]
SegmentListener = Callable[[Any], None]
# Called with the pseudonym, once every `customer_id` holder already carries it: the listener
# removes the personal data its app keeps beside the id (addresses, message content, tokens).
ErasureListener = Callable[[str], dict[str, int]]

_events_listeners: list[EventsListener] = []
_segment_listeners: list[SegmentListener] = []
_erasure_listeners: list[ErasureListener] = []


def register_events_listener(listener: EventsListener) -> None:
    if listener not in _events_listeners:
        _events_listeners.append(listener)


def register_segment_computed_listener(listener: SegmentListener) -> None:
    if listener not in _segment_listeners:
        _segment_listeners.append(listener)


def register_erasure_listener(listener: ErasureListener) -> None:
    if listener not in _erasure_listeners:
        _erasure_listeners.append(listener)


def events_stored(events: Sequence[StoredEvent]) -> None:
    if events:
        for listener in _events_listeners:
            listener(events)


def segment_computed(segment: Any) -> None:
    for listener in _segment_listeners:
        listener(segment)


def customer_erased(alias: str) -> dict[str, int]:
    """What each listener scrubbed, by label (`{"notifications.message": 3, …}`), for the audit row."""
    scrubbed: dict[str, int] = {}
    for listener in _erasure_listeners:
        scrubbed.update(listener(alias))
    return scrubbed
