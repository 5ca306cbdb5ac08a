"""Building journeys and feeding them events, for the journeys tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from customers.services import customers_upsert, events_ingest
from journeys.models import Journey
from journeys.services import journey_activate, journey_create

ACTOR = "user:journeys-test"
PURCHASED = {"event": "purchase", "within_days": 3, "count": {"op": "gte", "value": 1}}


def send(key: str, next_key: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "send",
        "channel": "in_app",
        "body_text": f"message {key}",
        "next": next_key,
        **fields,
    }


def welcome_flow() -> list[dict[str, Any]]:
    """send → wait 2 days → branch on a purchase → send A (bought) or B (did not) → exit."""
    return [
        send("welcome", "pause"),
        {"key": "pause", "kind": "wait", "duration_seconds": 2 * 86400, "next": "bought"},
        {
            "key": "bought",
            "kind": "branch",
            "branches": [{"condition": PURCHASED, "next": "thanks"}],
            "next": "nudge",
        },
        send("thanks", "done"),
        send("nudge", "done"),
        {"key": "done", "kind": "exit"},
    ]


def active_journey(steps: list[dict[str, Any]] | None = None, **data: Any) -> Journey:
    body = {"name": data.pop("name", "Welcome"), "entry": data.pop("entry", {"event": "signup"}), **data}
    body["steps"] = steps if steps is not None else welcome_flow()
    journey = journey_create(data=body, actor=ACTOR)
    return journey_activate(journey_id=journey.pk, actor=ACTOR)


def customers(count: int, prefix: str = "c", **fields: Any) -> list[str]:
    ids = [f"{prefix}{n:05d}" for n in range(count)]
    for start in range(0, count, 1000):
        customers_upsert(
            bodies=[{"customer_id": cid, **fields} for cid in ids[start : start + 1000]], actor="system"
        )
    return ids


def ingest(name: str, customer_ids: list[str], at: datetime, tag: str = "") -> None:
    bodies = [
        {"event_id": f"{name}-{tag}-{cid}", "customer_id": cid, "name": name, "occurred_at": at.isoformat()}
        for cid in customer_ids
    ]
    for start in range(0, len(bodies), 1000):
        events_ingest(bodies=bodies[start : start + 1000])
