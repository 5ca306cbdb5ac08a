from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from customers.models import Customer, CustomerStats, Event

_sequence = itertools.count(1)


def make_customer(
    customer_id: str | None = None,
    *,
    stats: dict[str, Any] | None = None,
    events: list[tuple[str, float, dict]] = (),  # (name, days ago, properties)
    now=None,
    **fields: Any,
) -> Customer:
    """A customer with its stats row and events, straight through the ORM (tests only)."""
    now = now or timezone.now()
    customer = Customer.objects.create(customer_id=customer_id or f"cust-{next(_sequence)}", **fields)
    CustomerStats.objects.create(customer=customer, **({"spend_total": Decimal(0)} | (stats or {})))
    Event.objects.bulk_create(
        [
            Event(
                event_id=f"{customer.customer_id}-ev-{next(_sequence)}",
                customer=customer,
                name=name,
                properties=properties,
                occurred_at=now - timedelta(days=days),
            )
            for name, days, properties in events
        ]
    )
    return customer
