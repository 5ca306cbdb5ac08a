"""Thin tasks: load by id, call the service."""

from config.celery import tenant_task
from core import task_names
from notifications.services import notification_send, notifications_enqueue_due


@tenant_task(name=task_names.SEND_NOTIFICATION)
def notification_send_task(notification_id: str) -> str | None:
    """One delivery attempt (enqueued through the outbox); retries are rescheduled by the sweep."""
    notification = notification_send(notification_id=notification_id)
    return notification.status if notification else None


@tenant_task(name=task_names.RETRY_DUE_NOTIFICATIONS)
def notifications_retry_due_task() -> int:
    """Per-brand sweep (beat, via tenants.for_each_tenant): enqueue notifications now due."""
    return notifications_enqueue_due()
