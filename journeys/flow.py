"""Pure decisions of the executor (no I/O): when a wait ends, which branch a customer takes,
and the idempotency key of a send."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# Message ids of journey sends: uuid5 of this namespace and (brand, enrollment, step). The same step
# run of the same enrollment always yields the same id, so writing it twice conflicts and a
# provider that dedupes on the message id (webhook-id, Idempotency-Key) receives it once.
SEND_NAMESPACE = uuid.UUID("6a8f1f3c-4b1e-4f0e-9d4a-1c0de5e9a1b7")


def send_message_id(*, schema: str, enrollment_id: int, step_id: int) -> uuid.UUID:
    return uuid.uuid5(SEND_NAMESPACE, f"{schema}:{enrollment_id}:{step_id}")


def wait_ends_at(*, now: datetime, seconds: int | None, local_time: time | None, zone: ZoneInfo) -> datetime:
    """A duration from now, or the next `local_time` in `zone` strictly after now (today or tomorrow).

    A local time that does not exist on a DST change day (02:30 when clocks jump) resolves as
    zoneinfo does: to the same wall time shifted by the gap; an ambiguous one to its first instance.
    """
    if seconds is not None:
        return now + timedelta(seconds=seconds)
    if local_time is None:
        raise ValueError("a wait needs a duration or a local time")
    local_now = now.astimezone(zone)
    day = local_now.date()
    for offset in (0, 1, 2):
        candidate = datetime.combine(day + timedelta(days=offset), local_time, tzinfo=zone)
        if candidate > local_now:
            return candidate.astimezone(now.tzinfo or ZoneInfo("UTC"))
    raise AssertionError("unreachable: a local time recurs within two days")


def first_match(
    predicates: Sequence[Callable[[Any, Any, datetime], bool]], snapshot: Any, now: datetime
) -> int | None:
    """The index of the first predicate the customer's snapshot satisfies (None: the default)."""
    if snapshot is None:
        return None
    for index, predicate in enumerate(predicates):
        if predicate(snapshot, None, now):
            return index
    return None
