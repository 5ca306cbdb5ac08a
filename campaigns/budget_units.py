"""What one reward costs a budget (pure: shared by the budget statements and the approval rule)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

SPEND = "spend"
COUNT = "count"


def reward_unit(*, kind: str, reward: Mapping[str, Any] | None) -> Decimal | None:
    """What one reward costs a budget of `kind`: 1 (count) or the reward's numeric value (spend)."""
    if kind == COUNT:
        return Decimal(1)
    try:
        value = Decimal(str((reward or {}).get("value", "")))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None
