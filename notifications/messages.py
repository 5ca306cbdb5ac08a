"""Message writes (SPEC §14): send through the gate, deliver (claim → send → record), sweep due
and deferred messages, suppressions, preferences, unsubscribe.

`message_send` decides and writes in one transaction under the customer's advisory lock
(`pg_advisory_xact_lock`): the suppression, consent and cap reads, the gate, and the message row.
Two concurrent sends to one customer are thus serialised, and a cap of 1 lets exactly one through.
A queued message is enqueued through the outbox in the same transaction.

Delivery follows notifications/services.py (and core/delivery.py): a short claim transaction
(`attempts` + 1, a lease), the provider call with no transaction open, then the outcome recorded
only where our claim token still holds. Retryable failures back off with full jitter
(`failed`, `next_attempt_at`); permanent ones, or MESSAGE_MAX_ATTEMPTS, are `dead`.

A deferred message (quiet hours, a cap window) keeps `next_attempt_at` = when its window ends.
The sweep (the notification retry job of the maintenance tick) re-runs the gate for those that
are due: it may send, skip, or defer again; and the brand's work-due index is told when.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import task_names
from core.audit import audit_record, values_of
from core.delivery import backoff_seconds, excerpt
from core.exceptions import NotFoundError, ValidationFailed
from customers.models import Customer
from notifications import gate
from notifications.channels import OutgoingMessage, channel_provider, provider_name, sms_segments
from notifications.models import (
    Category,
    Channel,
    FrequencyRule,
    Message,
    MessageEvent,
    MessagingSettings,
    Preference,
    Suppression,
)
from notifications.providers import ProviderError
from notifications.tracking import tracked_html
from outbox import events
from outbox.services import outbox_enqueue
from tenants.work_due import work_due_at

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "notifications.unsubscribe"
SWEEP_BATCH = 500
LEASE = timedelta(seconds=120)
# What counts against a frequency cap: everything decided to go (not skipped, deferred or dead).
COUNTED_STATUSES = ("queued", "sending", "sent", "delivered", "failed")


# ---------------------------------------------------------------- context of the gate


def lock_customer(customer_id: str) -> None:
    """The per-customer advisory lock, held until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"messages:{connection.schema_name}:{customer_id}"],
        )


def messaging_settings() -> MessagingSettings:
    found = MessagingSettings.objects.first()
    return found or MessagingSettings()


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def brand_zone() -> ZoneInfo:
    tenant = getattr(connection, "tenant", None)
    return _zone(getattr(tenant, "timezone", "") or "") or ZoneInfo("UTC")


def active_rules() -> list[gate.Rule]:
    return [
        gate.Rule(rule.channel, rule.max_messages, timedelta(hours=rule.window_hours))
        for rule in FrequencyRule.objects.filter(active=True)
    ]


def _customer(customer_id: str) -> Any:

    return Customer.objects.filter(customer_id=customer_id, erased_at__isnull=True).first()


def resolve_address(channel: str, customer: Any, customer_id: str) -> str:
    if channel == Channel.EMAIL:
        return gate.normalise_address(channel, customer.email) if customer else ""
    if channel == Channel.SMS:
        return gate.normalise_address(channel, customer.phone) if customer else ""
    return customer_id  # push (the gateway knows the devices) and in_app


def gate_context(
    *,
    customer_id: str,
    channel: str,
    address: str,
    customer: Any,
    now: datetime,
    rules: list[gate.Rule] | None = None,
    config: MessagingSettings | None = None,
) -> gate.GateContext:
    config = config or messaging_settings()
    rules = active_rules() if rules is None else rules
    suppressed = bool(address) and Suppression.objects.filter(channel=channel, address=address).exists()
    preferences = {
        (ch, topic): opted_in
        for ch, topic, opted_in in Preference.objects.filter(
            customer_id=customer_id, channel=channel
        ).values_list("channel", "topic", "opted_in")
    }
    recent: list[tuple[datetime, str]] = []
    if rules:
        longest = max(rule.window for rule in rules)
        recent = list(
            Message.objects.filter(
                customer_id=customer_id,
                category=Category.MARKETING,
                status__in=COUNTED_STATUSES,
                created_at__gt=now - longest,
            ).values_list("created_at", "channel")
        )
    quiet = None
    if config.quiet_hours_enabled and config.quiet_start and config.quiet_end:
        quiet = (config.quiet_start, config.quiet_end)
    zone = (_zone(customer.timezone) if customer else None) or brand_zone()
    return gate.GateContext(
        suppressed=suppressed,
        preferences=preferences,
        timezone=zone,
        quiet_hours=quiet,
        rules=rules,
        recent=recent,
    )


def _apply(message: Message, decision: gate.GateDecision) -> None:
    message.status = decision.status
    message.skip_reason = decision.reason
    message.next_attempt_at = decision.until


def _after_decision(message: Message) -> None:
    if message.status == Message.Status.QUEUED:
        outbox_enqueue(task_name=task_names.SEND_MESSAGE, args=[str(message.pk)])
    elif message.status == Message.Status.DEFERRED and message.next_attempt_at:
        work_due_at(at=message.next_attempt_at)


# ---------------------------------------------------------------- send


@transaction.atomic
def message_send(
    *,
    customer_id: str,
    channel: str,
    category: str = Category.MARKETING,
    topic: str = "",
    subject: str = "",
    body_text: str = "",
    body_html: str = "",
    campaign_id: int | None = None,
    variant: str = "",
    journey_step: str = "",
    defer_when_capped: bool = False,
    address: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Decide (the gate) and write one message; a queued one is enqueued for delivery on commit.

    `address` overrides the customer's (a test send); otherwise it is read from the customer.
    """
    if channel not in Channel.values:
        raise ValidationFailed({"channel": [f"Unknown channel {channel!r}."]})
    if category not in Category.values:
        raise ValidationFailed({"category": [f"Unknown category {category!r}."]})
    now = now or timezone.now()
    lock_customer(customer_id)
    customer = _customer(customer_id)
    if address is None:
        address = resolve_address(channel, customer, customer_id)
    else:
        address = gate.normalise_address(channel, address)
    request = gate.GateRequest(
        channel=channel,
        category=category,
        topic=topic,
        address=address,
        now=now,
        defer_when_capped=defer_when_capped,
    )
    decision = gate.evaluate(
        request,
        gate_context(customer_id=customer_id, channel=channel, address=address, customer=customer, now=now),
    )
    message = Message(
        customer_id=customer_id,
        channel=channel,
        category=category,
        topic=topic,
        address=address,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        campaign_id=campaign_id,
        variant=variant,
        journey_step=journey_step,
        defer_when_capped=defer_when_capped,
        provider=provider_name(channel),
        created_at=now,
    )
    if channel == Channel.SMS:
        message.segments = sms_segments(body_text)[1]
    _apply(message, decision)
    message.save(force_insert=True)
    _after_decision(message)
    return message


@transaction.atomic
def message_regate(*, message_id: str | uuid.UUID, now: datetime | None = None) -> Message | None:
    """A deferred message whose window ended passes the gate again (under the customer's lock)."""
    now = now or timezone.now()
    head = Message.objects.filter(pk=message_id).values_list("customer_id", flat=True).first()
    if head is None:
        return None
    lock_customer(head)
    message = (
        Message.objects.select_for_update().filter(pk=message_id, status=Message.Status.DEFERRED).first()
    )
    if message is None or (message.next_attempt_at and message.next_attempt_at > now):
        return message
    customer = _customer(message.customer_id)
    request = gate.GateRequest(
        channel=message.channel,
        category=message.category,
        topic=message.topic,
        address=message.address,
        now=now,
        defer_when_capped=message.defer_when_capped,
    )
    decision = gate.evaluate(
        request,
        gate_context(
            customer_id=message.customer_id,
            channel=message.channel,
            address=message.address,
            customer=customer,
            now=now,
        ),
    )
    _apply(message, decision)
    if message.status == Message.Status.QUEUED:
        message.created_at = now  # it counts against caps from when it actually goes
    message.save()
    _after_decision(message)
    return message


def transactional_push_gate(*, customer_id: str, now: datetime | None = None) -> gate.GateDecision:
    """The gate for a transactional push (the award push of §8): only suppression and address apply."""
    now = now or timezone.now()
    request = gate.GateRequest(
        channel=Channel.PUSH, category=Category.TRANSACTIONAL, topic="", address=customer_id, now=now
    )
    suppressed = Suppression.objects.filter(channel=Channel.PUSH, address=customer_id).exists()
    context = gate.GateContext(
        suppressed=suppressed, preferences={}, timezone=ZoneInfo("UTC"), quiet_hours=None, rules=(), recent=()
    )
    return gate.evaluate(request, context)


# ---------------------------------------------------------------- deliver


def unsubscribe_token(*, customer_id: str, channel: str, topic: str = "") -> str:
    return signing.dumps(
        {"s": connection.schema_name, "c": customer_id, "ch": channel, "t": topic},
        salt=UNSUBSCRIBE_SALT,
        compress=True,
    )


def public_base_url() -> str:
    tenant = getattr(connection, "tenant", None)
    domain = ""
    if tenant is not None and hasattr(tenant, "get_primary_domain"):
        primary = tenant.get_primary_domain()
        domain = primary.domain if primary else ""
    return f"{settings.MESSAGE_PUBLIC_SCHEME}://{domain or 'localhost'}"


def unsubscribe_url(message: Message) -> str:
    token = unsubscribe_token(customer_id=message.customer_id, channel=message.channel, topic="")
    return f"{public_base_url()}/unsubscribe/{token}/"


def _claim(message_id: str | uuid.UUID, token: uuid.UUID, now: datetime) -> OutgoingMessage | None:
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status__in=["queued", "failed", "sending"])
                & (Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
                & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)),
                pk=message_id,
            )
            .first()
        )
        if message is None:
            return None
        if message.attempts >= settings.MESSAGE_MAX_ATTEMPTS:
            message.status = Message.Status.DEAD
            message.last_error = excerpt(
                f"max attempts ({settings.MESSAGE_MAX_ATTEMPTS}) reached: {message.last_error}"
            )
            message.claimed_until = message.claim_token = message.next_attempt_at = None
            message.save()
            return None
        message.attempts += 1
        message.status = Message.Status.SENDING
        message.claimed_until = now + LEASE
        message.claim_token = token
        message.save(update_fields=["attempts", "status", "claimed_until", "claim_token", "updated_at"])
        return OutgoingMessage(
            message_id=str(message.pk),
            tenant=connection.schema_name,
            customer_id=message.customer_id,
            channel=message.channel,
            category=message.category,
            address=message.address,
            subject=message.subject,
            body_text=message.body_text,
            body_html=tracked_html(
                message_id=str(message.pk), html=message.body_html, base_url=public_base_url()
            )
            if message.category == Category.MARKETING
            else message.body_html,
            unsubscribe_url=unsubscribe_url(message)
            if message.category == Category.MARKETING and message.channel == Channel.EMAIL
            else "",
        )


def _cost(message: Message, config: MessagingSettings) -> Any:
    if message.channel == Channel.SMS:
        return config.cost_sms_segment * (message.segments or 1)
    return {"email": config.cost_email, "push": config.cost_push, "in_app": config.cost_in_app}[
        message.channel
    ]


def message_deliver(*, message_id: str | uuid.UUID, now: datetime | None = None) -> Message | None:
    """One delivery attempt: claim, send with no transaction open, record under the claim token."""
    now = now or timezone.now()
    token = uuid.uuid4()
    outgoing = _claim(message_id, token, now)
    if outgoing is None:
        return Message.objects.filter(pk=message_id).first()
    fields: dict[str, Any] = {"claimed_until": None, "claim_token": None, "updated_at": timezone.now()}
    try:
        result = channel_provider(outgoing.channel).send(outgoing)
    except ProviderError as exc:
        attempts = Message.objects.filter(pk=message_id).values_list("attempts", flat=True).first() or 1
        if exc.retryable and attempts < settings.MESSAGE_MAX_ATTEMPTS:
            delay = backoff_seconds(
                attempt_number=attempts,
                base_seconds=settings.NOTIFICATION_RETRY_BASE_SECONDS,
                max_seconds=settings.NOTIFICATION_RETRY_MAX_SECONDS,
                retry_after_seconds=exc.retry_after_seconds,
            )
            fields.update(status=Message.Status.FAILED, next_attempt_at=now + timedelta(seconds=delay))
        else:
            fields.update(status=Message.Status.DEAD, next_attempt_at=None)
        fields["last_error"] = exc.message
    else:
        status = Message.Status.DELIVERED if outgoing.channel == Channel.IN_APP else Message.Status.SENT
        fields.update(
            status=status,
            provider_message_id=result.provider_message_id[:500],
            sent_at=timezone.now(),
            next_attempt_at=None,
            last_error="",
        )
    with transaction.atomic():
        updated = Message.objects.filter(pk=message_id, claim_token=token).update(**fields)
        message = Message.objects.filter(pk=message_id).first()
        if updated and message is not None and message.status in ("sent", "delivered"):
            message.cost = _cost(message, messaging_settings())
            message.save(update_fields=["cost"])
        if (
            updated
            and message is not None
            and message.status == Message.Status.FAILED
            and message.next_attempt_at
        ):
            work_due_at(at=message.next_attempt_at)
    return message


def messages_enqueue_due(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> int:
    """The sweep: deferred messages whose window ended pass the gate again; due retries and lost
    sends (queued for over a minute, or a lease expired) are enqueued. O(due) on the partial index."""
    now = now or timezone.now()
    count = 0
    for message_id in Message.objects.filter(
        status=Message.Status.DEFERRED, next_attempt_at__lte=now
    ).values_list("pk", flat=True)[:limit]:
        message_regate(message_id=message_id, now=now)
        count += 1
    due = Message.objects.filter(
        Q(status=Message.Status.FAILED, next_attempt_at__lte=now)
        | Q(status=Message.Status.SENDING, claimed_until__lte=now)
        | Q(
            status=Message.Status.QUEUED,
            next_attempt_at__isnull=True,
            created_at__lte=now - timedelta(minutes=1),
        )
    ).values_list("pk", flat=True)[:limit]
    with transaction.atomic():
        for message_id in due:
            outbox_enqueue(task_name=task_names.SEND_MESSAGE, args=[str(message_id)])
            count += 1
    return count


# ---------------------------------------------------------------- suppressions and preferences


@transaction.atomic
def suppression_add(
    *, channel: str, address: str, reason: str = Suppression.Reason.MANUAL, note: str = "", actor: str
) -> tuple[Suppression, bool]:
    if channel not in Channel.values:
        raise ValidationFailed({"channel": [f"Unknown channel {channel!r}."]})
    if reason not in Suppression.Reason.values:
        raise ValidationFailed({"reason": [f"Unknown reason {reason!r}."]})
    address = gate.normalise_address(channel, address)
    if not address:
        raise ValidationFailed({"address": ["A suppression needs an address."]})
    existing = Suppression.objects.filter(channel=channel, address=address).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            suppression = Suppression.objects.create(
                channel=channel, address=address, reason=reason, note=note[:500]
            )
    except IntegrityError:
        return Suppression.objects.get(channel=channel, address=address), False
    audit_record(
        actor=actor,
        action="suppression.added",
        obj_or_type=suppression,
        changes={"after": values_of(suppression, ["channel", "address", "reason"])},
    )
    return suppression, True


@transaction.atomic
def suppression_remove(*, suppression_id: int, actor: str) -> None:
    suppression = Suppression.objects.filter(pk=suppression_id).first()
    if suppression is None:
        raise NotFoundError("No such suppression.")
    before = values_of(suppression, ["channel", "address", "reason"])
    suppression.delete()
    audit_record(
        actor=actor,
        action="suppression.removed",
        obj_or_type=Suppression,
        object_id=suppression_id,
        changes={"before": before},
    )


@transaction.atomic
def preferences_set(*, customer_id: str, preferences: list[dict[str, Any]], actor: str) -> list[Preference]:
    """Replace the customer's preferences with `preferences` ([{channel, topic, opted_in}])."""
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(preferences):
        key = (item["channel"], item.get("topic", ""))
        if item["channel"] not in Channel.values:
            raise ValidationFailed(
                {f"preferences[{index}].channel": [f"Unknown channel {item['channel']!r}."]}
            )
        if key in seen:
            raise ValidationFailed({f"preferences[{index}]": ["The same channel and topic twice."]})
        seen.add(key)
    lock_customer(customer_id)
    before = list(Preference.objects.filter(customer_id=customer_id).values("channel", "topic", "opted_in"))
    Preference.objects.filter(customer_id=customer_id).delete()
    rows = Preference.objects.bulk_create(
        [
            Preference(
                customer_id=customer_id,
                channel=i["channel"],
                topic=i.get("topic", ""),
                opted_in=i["opted_in"],
            )
            for i in preferences
        ]
    )
    audit_record(
        actor=actor,
        action="preferences.replaced",
        obj_or_type=Preference,
        object_id=customer_id,
        changes={"before": before, "after": [dict(i) for i in preferences]},
    )
    return rows


@transaction.atomic
def preference_opt_out(*, customer_id: str, channel: str, topic: str = "", actor: str) -> Preference:
    lock_customer(customer_id)
    pref, _ = Preference.objects.update_or_create(
        customer_id=customer_id, channel=channel, topic=topic, defaults={"opted_in": False}
    )
    audit_record(
        actor=actor,
        action="preferences.opted_out",
        obj_or_type=Preference,
        object_id=customer_id,
        changes={"after": {"channel": channel, "topic": topic, "opted_in": False}},
    )
    return pref


def unsubscribe_read(token: str) -> dict[str, str]:
    """The signed unsubscribe token's content, for this brand only; NotFoundError otherwise."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature as exc:
        raise NotFoundError("This unsubscribe link is not valid.") from exc
    if data.get("s") != connection.schema_name:
        raise NotFoundError("This unsubscribe link is not valid.")
    return data


def unsubscribe(*, token: str) -> Preference:
    data = unsubscribe_read(token)
    return preference_opt_out(
        customer_id=data["c"], channel=data["ch"], topic=data.get("t", ""), actor="system"
    )


@transaction.atomic
def inbox_mark_read(*, message_id: str | uuid.UUID, now: datetime | None = None) -> Message:
    message = Message.objects.filter(
        pk=message_id, channel=Channel.IN_APP, status__in=["sent", "delivered"]
    ).first()
    if message is None:
        raise NotFoundError("No such inbox message.")
    if message.read_at is None:
        Message.objects.filter(pk=message.pk, read_at__isnull=True).update(read_at=now or timezone.now())
        message.refresh_from_db()
    return message


# ---------------------------------------------------------------- ESP tracking (anymail)


EVENT_SUPPRESSION = {"bounced": Suppression.Reason.HARD_BOUNCE, "complained": Suppression.Reason.COMPLAINT}


@transaction.atomic
def tracking_event_record(
    *, event_type: str, provider_message_id: str, recipient: str, description: str = ""
) -> Message | None:
    """An ESP's tracking event: delivered → `delivered`; bounced/complained → a suppression (and the
    message `dead` for a bounce); unsubscribed → an email opt-out of the customer."""
    message = None
    if provider_message_id:
        message = Message.objects.select_for_update().filter(provider_message_id=provider_message_id).first()
    if event_type in EVENT_SUPPRESSION and recipient:
        suppression_add(
            channel=Channel.EMAIL,
            address=recipient,
            reason=EVENT_SUPPRESSION[event_type],
            note=excerpt(description, 500),
            actor="system",
        )
    if message is None:
        return None
    MessageEvent.objects.create(message=message, kind=event_type, occurred_at=timezone.now())
    if event_type == "delivered" and message.status == Message.Status.SENT:
        message.status = Message.Status.DELIVERED
        message.save(update_fields=["status", "updated_at"])
    elif event_type == "bounced":
        events.emit(
            events.EventType.MESSAGE_BOUNCED,
            {
                "message_id": message.pk,
                "customer_id": message.customer_id,
                "channel": message.channel,
                "campaign_id": message.campaign_id,
                "description": excerpt(description, 500),
            },
        )
        message.status = Message.Status.DEAD
        message.last_error = excerpt(f"bounced: {description}")
        message.save(update_fields=["status", "last_error", "updated_at"])
    elif event_type == "unsubscribed":
        preference_opt_out(customer_id=message.customer_id, channel=message.channel, actor="system")
    return message
