"""anymail's tracking signal → notifications: bounces and complaints suppress, deliveries confirm."""

from __future__ import annotations

from typing import Any

from anymail.signals import tracking

from notifications.messages import tracking_event_record

HANDLED = {"delivered", "bounced", "complained", "unsubscribed"}


def on_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    if event.event_type not in HANDLED:
        return
    tracking_event_record(
        event_type=event.event_type,
        provider_message_id=event.message_id or "",
        recipient=event.recipient or "",
        description=event.description or event.reject_reason or "",
    )


def connect() -> None:
    tracking.connect(on_tracking, dispatch_uid="notifications.on_tracking")
