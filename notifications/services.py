"""Notification writes: create one per award, send with retries, sweep due retries, replay dead ones.

Status machine: `queued` → `sent`; `queued|failed` → `failed` (a retryable
error, another attempt at `next_attempt_at`) → … → `dead` (a permanent
error, or NOTIFICATION_MAX_ATTEMPTS reached); `dead` → `queued` (replay, with
a fresh attempt budget). Sends are at-least-once: the push gateway gets the
notification id as `webhook-id` / `Idempotency-Key` to drop duplicates.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from awards.services import award_display_value
from core import metrics, task_names
from core.audit import audit_record, changes_between, values_of
from core.exceptions import ConflictError, NotFoundError, validate_model
from core.templating import NotificationRenderError, render_notification
from notifications.models import DeviceToken, Notification
from notifications.providers import ProviderError, PushMessage, SendResult, get_provider
from outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)

# A queued notification whose task message vanished (worker lost it) is re-sent by the sweep after this.
STALE_QUEUED_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500
TEMPLATE_ERROR_PREFIX = "template: "
# What a replay's audit event records.
REPLAY_AUDITED_FIELDS = ("status", "attempts", "next_attempt_at", "provider", "last_error")


def notification_context(award: Any) -> dict[str, Any]:
    """The only data a push template sees: plain strings and dicts, never model instances."""
    return {
        "customer_id": award.customer_id,
        "award": {
            "award_id": award.award_id,
            "reward_type": award.reward_type,
            "value": award_display_value(award.value, award.currency) or "",
            "currency": award.currency,
            "voucher_code": award.voucher_code,
            "expires_at": award.expires_at.isoformat() if award.expires_at else "",
            "message": award.message,
        },
        "campaign": {"id": award.campaign_id, "name": award.campaign.name},
        "partner": {"slug": award.partner.slug, "name": award.partner.name},
    }


def _render(notification: Notification, award: Any) -> None:
    try:
        notification.title, notification.body = render_notification(
            award.campaign.notification, notification_context(award)
        )
    except NotificationRenderError as exc:
        notification.title, notification.body = "", ""
        notification.status = Notification.Status.DEAD
        notification.last_error = f"{TEMPLATE_ERROR_PREFIX}{exc}"[:1000]


def _enqueue_send(notification: Notification) -> None:
    outbox_enqueue(task_name=task_names.SEND_NOTIFICATION, args=[str(notification.pk)])


@transaction.atomic
def notification_create_for_award(*, award: Any) -> Notification:
    """The award's notification, rendered now and enqueued through the outbox in the caller's transaction.

    A stored template that no longer renders (saved before validation existed)
    makes the notification `dead` with the template error; fix the template
    and replay it.
    """
    notification = Notification(
        customer_id=award.customer_id,
        campaign_id=award.campaign_id,
        award=award,
        provider=settings.NOTIFICATION_PROVIDER,
        status=Notification.Status.QUEUED,
    )
    _render(notification, award)
    notification.save()
    if notification.status == Notification.Status.QUEUED:
        _enqueue_send(notification)
    else:
        logger.warning(
            "notification not sent: its template does not render",
            extra={"notification_id": str(notification.pk), "error": notification.last_error},
        )
    return notification


def retry_delay_seconds(*, attempt: int, retry_after: float | None = None) -> float:
    """Exponential back-off with jitter (half fixed, half random); Retry-After is honoured."""
    ceiling = min(
        settings.NOTIFICATION_RETRY_MAX_SECONDS,
        settings.NOTIFICATION_RETRY_BASE_SECONDS * (2 ** max(0, attempt - 1)),
    )
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.NOTIFICATION_RETRY_MAX_SECONDS))
    return delay


def _push_message(notification: Notification) -> PushMessage:
    tokens: tuple[str, ...] = ()
    if notification.provider == "fcm":
        tokens = tuple(
            DeviceToken.objects.filter(customer_id=notification.customer_id)
            .order_by("-updated_at")
            .values_list("token", flat=True)
        )
    award = notification.award
    return PushMessage(
        notification_id=str(notification.pk),
        tenant=connection.schema_name,
        customer_id=notification.customer_id,
        title=notification.title,
        body=notification.body,
        data={
            "award_id": award.award_id,
            "campaign_id": str(notification.campaign_id),
            "reward_type": award.reward_type,
            "voucher_code": award.voucher_code,
        },
        device_tokens=tokens,
        delivered_to=tuple(notification.delivered_to or ()),
    )


def _record_success(notification: Notification, result: SendResult) -> None:
    notification.status = Notification.Status.SENT
    notification.sent_at = timezone.now()
    notification.next_attempt_at = None
    notification.provider_message_id = result.provider_message_id[:500]
    notification.last_status_code = result.status_code
    notification.last_error = ""
    notification.delivered_to = result.delivered_to
    metrics.NOTIFICATIONS.labels(
        tenant=connection.schema_name, provider=notification.provider, outcome="sent"
    ).inc()


def _record_failure(notification: Notification, error: ProviderError) -> None:
    notification.last_status_code = error.status_code
    notification.last_error = error.message
    if error.delivered_to:
        notification.delivered_to = error.delivered_to
    if error.retryable and notification.attempts < settings.NOTIFICATION_MAX_ATTEMPTS:
        notification.status = Notification.Status.FAILED
        delay = retry_delay_seconds(attempt=notification.attempts, retry_after=error.retry_after_seconds)
        notification.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    else:
        notification.status = Notification.Status.DEAD
        notification.next_attempt_at = None
    metrics.NOTIFICATIONS.labels(
        tenant=connection.schema_name, provider=notification.provider, outcome=notification.status
    ).inc()


def notification_send(*, notification_id: str | uuid.UUID) -> Notification | None:
    """One delivery attempt, if the notification is due; idempotent under duplicate task messages.

    The row is locked (SKIP LOCKED) for the attempt, so two workers never send
    the same notification at once; a sent or dead one, or one not due yet, is
    left alone. Returns the notification (None if it does not exist or is locked).
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("award", "campaign")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return None
        now = timezone.now()
        due = notification.next_attempt_at is None or notification.next_attempt_at <= now
        if notification.status not in (Notification.Status.QUEUED, Notification.Status.FAILED) or not due:
            return notification

        notification.attempts += 1
        try:
            try:
                provider = get_provider(notification.provider)
            except ImproperlyConfigured as exc:
                # Retryable: an operator can fix the settings before the budget runs out (or replay).
                raise ProviderError(f"provider misconfigured: {exc}", retryable=True) from exc
            result = provider.send(_push_message(notification))
        except ProviderError as error:
            _record_failure(notification, error)
            if error.invalid_tokens:
                DeviceToken.objects.filter(token__in=error.invalid_tokens).delete()
        else:
            _record_success(notification, result)
            if result.invalid_tokens:
                DeviceToken.objects.filter(token__in=result.invalid_tokens).delete()
        notification.save()
    log = logger.info if notification.status == Notification.Status.SENT else logger.warning
    log(
        "notification attempt: %s",
        notification.status,
        extra={
            "notification_id": str(notification.pk),
            "campaign": notification.campaign_id,
            "attempt": notification.attempts,
            "error": notification.last_error,
        },
    )
    return notification


@transaction.atomic
def notifications_enqueue_due(*, limit: int = SWEEP_BATCH) -> int:
    """Beat sweep: enqueue failed notifications whose back-off has passed, and queued ones stuck too long."""
    now = timezone.now()
    due_ids = list(
        Notification.objects.filter(
            Q(status=Notification.Status.FAILED, next_attempt_at__lte=now)
            | Q(status=Notification.Status.QUEUED, updated_at__lte=now - STALE_QUEUED_AFTER)
        )
        .order_by("next_attempt_at", "created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for notification_id in due_ids:
        outbox_enqueue(task_name=task_names.SEND_NOTIFICATION, args=[str(notification_id)])
    if due_ids:
        # Touch the stale queued ones so the next sweep does not enqueue them again at once.
        Notification.objects.filter(pk__in=due_ids, status=Notification.Status.QUEUED).update(updated_at=now)
    return len(due_ids)


@transaction.atomic
def notification_replay(*, notification_id: str | uuid.UUID, actor: str) -> Notification:
    """A dead notification goes back to `queued` with a fresh attempt budget (admin action, API, command).

    It is sent with the provider configured now; one that died of a template
    error is rendered again from the campaign's current templates.
    """
    notification = (
        Notification.objects.select_for_update(of=("self",))
        .select_related("award", "award__campaign", "award__partner")
        .filter(pk=notification_id)
        .first()
    )
    if notification is None:
        raise NotFoundError("No such notification.")
    if notification.status != Notification.Status.DEAD:
        raise ConflictError(
            f"Only dead notifications can be replayed (this one is {notification.status}).", code="not_dead"
        )
    before = values_of(notification, REPLAY_AUDITED_FIELDS)
    notification.status = Notification.Status.QUEUED
    notification.attempts = 0
    notification.next_attempt_at = None
    notification.provider = settings.NOTIFICATION_PROVIDER
    if notification.last_error.startswith(TEMPLATE_ERROR_PREFIX):
        _render(notification, notification.award)
    if notification.status == Notification.Status.QUEUED:
        notification.last_error = ""
        _enqueue_send(notification)
    notification.save()
    audit_record(
        actor=actor,
        action="notification.replayed",
        obj_or_type=notification,
        changes=changes_between(before, values_of(notification, REPLAY_AUDITED_FIELDS)),
    )
    return notification


def notifications_replay_dead(*, actor: str, campaign_id: int | None = None) -> int:
    """Replay every dead notification (of one campaign); returns how many were queued again."""
    dead = Notification.objects.filter(status=Notification.Status.DEAD)
    if campaign_id is not None:
        dead = dead.filter(campaign_id=campaign_id)
    replayed = 0
    for notification_id in dead.values_list("pk", flat=True):
        if (
            notification_replay(notification_id=notification_id, actor=actor).status
            == Notification.Status.QUEUED
        ):
            replayed += 1
    return replayed


@transaction.atomic
def device_token_register(*, customer_id: str, token: str, platform: str = "") -> tuple[DeviceToken, bool]:
    """Register (or move to this customer) an FCM registration token; returns (token, created)."""
    device, created = DeviceToken.objects.select_for_update().get_or_create(
        token=token, defaults={"customer_id": customer_id, "platform": platform}
    )
    if not created:
        device.customer_id = customer_id
        device.platform = platform or device.platform
        validate_model(device)
        device.save()
    return device, created


@transaction.atomic
def device_token_unregister(*, customer_id: str, token: str) -> int:
    deleted, _ = DeviceToken.objects.filter(customer_id=customer_id, token=token).delete()
    return deleted
