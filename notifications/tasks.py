"""Thin tasks: load by id, call the service."""

from config.celery import tenant_task
from core import task_names
from notifications.broadcasts import broadcasts_run_due
from notifications.messages import message_deliver, messages_enqueue_due
from notifications.services import notification_send, notifications_enqueue_due


@tenant_task(name=task_names.SEND_NOTIFICATION)
def notification_send_task(notification_id: str) -> str | None:
    """One delivery attempt (enqueued through the outbox); retries are rescheduled by the sweep."""
    notification = notification_send(notification_id=notification_id)
    return notification.status if notification else None


@tenant_task(name=task_names.SEND_MESSAGE)
def message_send_task(message_id: str) -> str | None:
    """One delivery attempt of a message (SPEC §14), enqueued through the outbox."""
    message = message_deliver(message_id=message_id)
    return message.status if message else None


@tenant_task(name=task_names.RETRY_DUE_NOTIFICATIONS)
def notifications_retry_due_task() -> int:
    """Per-brand sweep (beat, via the maintenance tick): notifications and messages now due, and
    deferred messages whose quiet hours or cap window ended (they pass the gate again), and the
    next batch of each due broadcast."""
    return notifications_enqueue_due() + messages_enqueue_due() + broadcasts_run_due()
