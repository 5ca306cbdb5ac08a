"""Listeners of customers' writes, registered by the apps above (ADR 0011: no upward import).

`events_ingest` tells every events listener about the events it stored (not the duplicates), and
`segment_compute` tells every segment listener about the segment it counted, inside the writer's
transaction: what a listener writes commits or rolls back with the events or the count. A
listener must be cheap when it has nothing to do (journeys: one indexed query per batch).
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

_events_listeners: list[EventsListener] = []
_segment_listeners: list[SegmentListener] = []


def register_events_listener(listener: EventsListener) -> None:
    if listener not in _events_listeners:
        _events_listeners.append(listener)


def register_segment_computed_listener(listener: SegmentListener) -> None:
    if listener not in _segment_listeners:
        _segment_listeners.append(listener)


def events_stored(events: Sequence[StoredEvent]) -> None:
    if events:
        for listener in _events_listeners:
            listener(events)


def segment_computed(segment: Any) -> None:
    for listener in _segment_listeners:
        listener(segment)
