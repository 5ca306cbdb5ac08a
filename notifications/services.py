"""Notification writes: create one per award, send (claim → send → record), sweep due ones, replay dead ones.

Status machine (`core.delivery.DeliveryStatus`): `queued` → `sending` (claimed, an
attempt in flight) → `sent`, or → `failed` (a retryable error, another attempt at
`next_attempt_at`) → `sending` → … → `dead` (a permanent error, or
NOTIFICATION_MAX_ATTEMPTS reached); `dead` → `queued` (replay, with a fresh
attempt budget).

Sending one notification (`notification_send`, the task `notifications.send`):

1. **Claim** (one short transaction, `notification_claim`): the row is locked
   `FOR UPDATE SKIP LOCKED` only if it is due and not under someone else's live
   lease; `attempts` is incremented *before* sending (a notification that kills
   its worker still uses up its budget), the status becomes `sending` and a lease
   is written (`claimed_until`, a fresh `claim_token`). Everything the provider
   needs (texts, device tokens) is read here.
2. **Send** (no transaction, no lock, no database): the provider's HTTP call,
   through `core.http.client`.
3. **Record** (one short transaction, `notification_record_outcome`): the new
   state, written only where our `claim_token` still holds (fencing). A sender
   whose lease was taken over drops its late result; the new owner's stands.

A worker that dies between 1 and 3 leaves the row `sending` with its lease; once
the lease has expired the beat sweep enqueues it again and the next claim
re-sends it, with the same notification id as `webhook-id`/`Idempotency-Key`, so
the gateway can drop the duplicate (delivery is at least once).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from awards.services import award_display_value
from core import metrics, task_names
from core.audit import audit_record, changes_between, values_of
from core.delivery import backoff_seconds, excerpt
from core.exceptions import ConflictError, NotFoundError, validate_model
from core.templating import NotificationRenderError, render_notification
from notifications.messages import transactional_push_gate
from notifications.models import DeviceToken, Message, Notification, SkipReason
from notifications.providers import ProviderError, PushMessage, SendResult, get_provider
from outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)

# A queued notification whose task message vanished (worker lost it) is re-sent by the sweep after this.
STALE_QUEUED_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500
TEMPLATE_ERROR_PREFIX = "template: "
# What a replay's audit event records.
REPLAY_AUDITED_FIELDS = ("status", "attempts", "next_attempt_at", "provider", "last_error")
# A lease outlives the longest honest attempt: twice the timeout of each request it may make (the
# FCM token fetch included), plus room for the recording.
LEASE_MARGIN = timedelta(seconds=60)
# What a sender that claimed a notification and never recorded leaves behind.
LOST_WORKER_ERROR = (
    "worker lost before recording the outcome (lease expired); the provider may have received it: "
    "the re-send carries the same notification id"
)


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
    if notification.status == Notification.Status.QUEUED:
        # SPEC §14: the award push is a transactional message through the same gate: no consent or
        # cap check, but never to a suppressed customer (push suppressions are keyed by customer id).
        decision = transactional_push_gate(customer_id=award.customer_id)
        if decision.status != Notification.Status.QUEUED:
            notification.status = decision.status
            notification.last_error = f"skipped: {decision.reason}"
    notification.save()
    if notification.status == Notification.Status.QUEUED:
        _enqueue_send(notification)
    elif notification.status == Notification.Status.SKIPPED:
        logger.info(
            "award push skipped by the deliverability gate", extra={"notification_id": str(notification.pk)}
        )
    else:
        logger.warning(
            "notification not sent: its template does not render",
            extra={"notification_id": str(notification.pk), "error": notification.last_error},
        )
    return notification


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


@dataclass(frozen=True)
class ClaimedNotification:
    """A notification leased for one attempt, with everything its provider needs."""

    notification_id: uuid.UUID
    campaign_id: int
    provider: str
    attempt: int
    message: PushMessage


def _sendable(now: datetime) -> Q:
    """Due (never tried, or its back-off passed) and under nobody's live lease."""
    return (
        Q(status__in=[Notification.Status.QUEUED, Notification.Status.FAILED, Notification.Status.SENDING])
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    )


def _lease_until(now: datetime, message: PushMessage) -> datetime:
    requests = 1 + max(1, len(set(message.device_tokens) - set(message.delivered_to)))
    return now + timedelta(seconds=2 * requests * settings.NOTIFICATION_TIMEOUT_SECONDS) + LEASE_MARGIN


def _count_outcome(provider: str, status: str) -> None:
    metrics.NOTIFICATIONS.labels(tenant=connection.schema_name, provider=provider, outcome=status).inc()


@transaction.atomic
def notification_claim(
    *, notification_id: str | uuid.UUID, claim_token: uuid.UUID, now: datetime
) -> ClaimedNotification | None:
    """Lease a due notification for one attempt (a short transaction); None when it is not sendable now.

    Not sendable: unknown, final (`sent`, `dead`), not due yet, under another sender's live
    lease, or locked by a concurrent claim at this very moment (SKIP LOCKED: it skips rather
    than waits). A notification whose earlier lease expired was lost by its sender: it is
    claimed again (or made `dead` if that attempt used up the budget).
    """
    notification = (
        Notification.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("award")
        .filter(_sendable(now), pk=notification_id)
        .first()
    )
    if notification is None:
        return None
    max_attempts = settings.NOTIFICATION_MAX_ATTEMPTS
    if notification.claimed_until is not None:
        # Its sender claimed it and never recorded: the provider may have received it.
        notification.last_error = LOST_WORKER_ERROR
    if notification.attempts >= max_attempts:
        notification.status = Notification.Status.DEAD
        notification.last_error = excerpt(f"max attempts ({max_attempts}) reached: {notification.last_error}")
        notification.next_attempt_at = notification.claimed_until = notification.claim_token = None
        notification.save()
        _count_outcome(notification.provider, notification.status)
        logger.warning(
            "notification dead",
            extra={"notification_id": str(notification.pk), "error": notification.last_error},
        )
        return None
    message = _push_message(notification)
    notification.attempts += 1
    notification.status = Notification.Status.SENDING
    notification.next_attempt_at = None
    notification.claimed_until = _lease_until(now, message)
    notification.claim_token = claim_token
    notification.updated_at = now
    notification.save(
        update_fields=[
            "attempts",
            "status",
            "next_attempt_at",
            "claimed_until",
            "claim_token",
            "last_error",
            "updated_at",
        ]
    )
    return ClaimedNotification(
        notification_id=notification.pk,
        campaign_id=notification.campaign_id,
        provider=notification.provider,
        attempt=notification.attempts,
        message=message,
    )


def _deliver(claimed: ClaimedNotification) -> SendResult | ProviderError:
    """Step 2: the provider's call. Never raises: every failure becomes a ProviderError to record."""
    try:
        try:
            provider = get_provider(claimed.provider)
        except ImproperlyConfigured as exc:
            # Retryable: an operator can fix the settings before the budget runs out (or replay).
            raise ProviderError(f"provider misconfigured: {exc}", retryable=True) from exc
        return provider.send(claimed.message)
    except ProviderError as error:
        return error
    except Exception as exc:
        # A provider bug is recorded now (visible in last_error, retried with back-off, then dead)
        # rather than leaving the row leased until the lease expires.
        logger.exception("push provider raised", extra={"notification_id": str(claimed.notification_id)})
        return ProviderError(f"provider error: {type(exc).__name__}: {exc}", retryable=True)


def _outcome_fields(
    claimed: ClaimedNotification, outcome: SendResult | ProviderError, now: datetime
) -> dict[str, Any]:
    """The columns an attempt's outcome writes (the lease is released on every path)."""
    fields: dict[str, Any] = {"claimed_until": None, "claim_token": None, "updated_at": now}
    if isinstance(outcome, SendResult):
        return fields | {
            "status": Notification.Status.SENT,
            "sent_at": now,
            "next_attempt_at": None,
            "provider_message_id": outcome.provider_message_id[:500],
            "last_status_code": outcome.status_code,
            "last_error": "",
            "delivered_to": outcome.delivered_to,
        }
    fields |= {"last_status_code": outcome.status_code, "last_error": outcome.message}
    if outcome.delivered_to:
        fields["delivered_to"] = outcome.delivered_to
    max_attempts = settings.NOTIFICATION_MAX_ATTEMPTS
    if outcome.retryable and claimed.attempt < max_attempts:
        delay = backoff_seconds(
            attempt_number=claimed.attempt,
            base_seconds=settings.NOTIFICATION_RETRY_BASE_SECONDS,
            max_seconds=settings.NOTIFICATION_RETRY_MAX_SECONDS,
            retry_after_seconds=outcome.retry_after_seconds,
        )
        return fields | {
            "status": Notification.Status.FAILED,
            "next_attempt_at": now + timedelta(seconds=delay),
        }
    if outcome.retryable:
        fields["last_error"] = excerpt(f"max attempts ({max_attempts}) reached: {outcome.message}")
    return fields | {"status": Notification.Status.DEAD, "next_attempt_at": None}


def notification_record_outcome(
    *,
    claimed: ClaimedNotification,
    outcome: SendResult | ProviderError,
    claim_token: uuid.UUID,
    now: datetime,
) -> Notification | None:
    """Step 3: write the attempt's outcome where our claim still holds; None if the lease was lost."""
    fields = _outcome_fields(claimed, outcome, now)
    with transaction.atomic():
        if outcome.invalid_tokens:
            # Whoever holds the lease now, FCM said these tokens are gone.
            DeviceToken.objects.filter(token__in=outcome.invalid_tokens).delete()
        recorded = Notification.objects.filter(pk=claimed.notification_id, claim_token=claim_token).update(
            **fields
        )
    if not recorded:
        logger.warning(
            "notification lease lost before recording; the new owner's outcome stands",
            extra={"notification_id": str(claimed.notification_id), "attempt": claimed.attempt},
        )
        return None
    status = fields["status"]
    _count_outcome(claimed.provider, status)
    log = logger.info if status == Notification.Status.SENT else logger.warning
    log(
        "notification attempt: %s",
        status,
        extra={
            "notification_id": str(claimed.notification_id),
            "campaign": claimed.campaign_id,
            "attempt": claimed.attempt,
            "error": fields["last_error"],
        },
    )
    return Notification.objects.filter(pk=claimed.notification_id).first()


def notification_send(*, notification_id: str | uuid.UUID) -> Notification | None:
    """One delivery attempt, if the notification is due: claim → send → record (module docstring).

    Safe to call twice, or at once from two workers: only one claims it, the other does
    nothing. Call it outside a transaction, so that no transaction stays open during the
    provider's HTTP call. Returns the notification as it is afterwards (None if it does not exist).
    """
    claim_token = uuid.uuid4()
    claimed = notification_claim(notification_id=notification_id, claim_token=claim_token, now=timezone.now())
    if claimed is None:
        return Notification.objects.filter(pk=notification_id).first()
    outcome = _deliver(claimed)
    recorded = notification_record_outcome(
        claimed=claimed, outcome=outcome, claim_token=claim_token, now=timezone.now()
    )
    return recorded or Notification.objects.filter(pk=notification_id).first()


@transaction.atomic
def notifications_enqueue_due(*, limit: int = SWEEP_BATCH) -> int:
    """Beat sweep: enqueue failed notifications whose back-off has passed, claims whose lease expired
    (their sender died: the send task claims them again), and queued ones stuck too long (their task
    message was lost). A duplicate message is harmless: only one claim wins."""
    now = timezone.now()
    due_ids = list(
        Notification.objects.filter(
            Q(status=Notification.Status.FAILED, next_attempt_at__lte=now)
            | Q(status=Notification.Status.SENDING, claimed_until__lte=now)
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
    notification.claimed_until = notification.claim_token = None
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


def customer_erasure_scrub(alias: str) -> dict[str, int]:
    """The personal data notifications keep beside an erased customer's (already pseudonymised) id.

    Messages lose their address and content (for push and in-app the address *is* the customer
    id), and those still waiting are skipped as `no_address` rather than sent to nobody; award
    pushes lose their texts and the device tokens they went to; the device tokens go. The rows stay,
    so message counts, costs and campaign metrics still add up. Suppressions stay: an address
    that bounced or complained must go on receiving nothing, whoever it belonged to.
    """
    waiting = [Message.Status.QUEUED, Message.Status.FAILED, Message.Status.DEFERRED]
    Message.objects.filter(customer_id=alias, status__in=waiting).update(
        status=Message.Status.SKIPPED, skip_reason=SkipReason.NO_ADDRESS, next_attempt_at=None
    )
    messages = Message.objects.filter(customer_id=alias).update(
        address="", subject="", body_text="", body_html="", last_error=""
    )
    notifications = Notification.objects.filter(customer_id=alias).update(
        title="", body="", delivered_to=[], last_error=""
    )
    tokens, _ = DeviceToken.objects.filter(customer_id=alias).delete()
    return {
        Message._meta.label_lower: messages,
        Notification._meta.label_lower: notifications,
        DeviceToken._meta.label_lower: tokens,
    }
