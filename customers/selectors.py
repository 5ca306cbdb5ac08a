"""Reads of the customers app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from core.exceptions import NotFoundError
from customers.models import Customer, CustomerStats

STATS_FIELDS = (
    "first_purchase_at",
    "last_purchase_at",
    "orders_total",
    "spend_total",
    "orders_90d",
    "spend_90d",
    "r",
    "f",
    "m",
)


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
