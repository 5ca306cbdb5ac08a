"""Reads of the webhooks app."""

from __future__ import annotations

from django.db.models import QuerySet

from webhooks.models import WebhookDelivery, WebhookEndpoint


def subscribed_event_types() -> set[str]:
    """The event types some enabled endpoint of the current brand subscribes to (outbox.events' lookup)."""
    types: set[str] = set()
    for event_types in WebhookEndpoint.objects.filter(is_enabled=True).values_list("event_types", flat=True):
        types.update(event_types)
    return types


def endpoint_list() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.order_by("id")


def endpoint_deliveries(*, endpoint_id: int, status: str | None = None) -> QuerySet[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id).prefetch_related("attempt_log")
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.order_by("-created_at", "id")


def endpoints_disabled_for_failing_count() -> int:
    """Endpoints the platform disabled after 5 days of failures (the monitoring alarm's value)."""
    return WebhookEndpoint.objects.filter(
        is_enabled=False, disabled_reason=WebhookEndpoint.DisabledReason.FAILING
    ).count()
