"""Broadcasts (SPEC §14): a campaign message sent to every member of its segment, in batches.

`campaign_message_schedule` makes it due at `send_at` (the brand's work-due index is told). The
sweep (`broadcasts_run_due`, in the maintenance tick's notification job) runs each due broadcast's
next batch:

1. **Decide** (one transaction): the next `batch_size` members in customer-key order after the
   cursor; every member's advisory lock (taken in key order, so batches and single sends never
   deadlock), then the gate's inputs for the whole batch in a handful of set queries
   (suppressions, preferences, recent messages), the pure gate per member and channel — the first
   channel (in the message's order) that has an address and consent wins, else the last
   channel's decision is kept — and one `bulk_create` of the rows. The cursor moves in the same
   transaction, so a batch is never decided twice.
2. **Deliver** (no transaction open while sending): the queued rows are claimed with one UPDATE
   (a lease and a claim token), sent (one SMTP connection for the batch), and recorded under the
   token. A sender lost mid-batch leaves leased rows the ordinary sweep re-sends one by one.
3. The next batch is due after `batch / rate` seconds (`rate_per_second`, else the slowest
   channel's MESSAGE_RATE_PER_SECOND).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.audit import audit_record
from core.delivery import backoff_seconds
from core.exceptions import ConflictError, NotFoundError, ValidationFailed
from core.templating import (
    NotificationRenderError,
    compile_message_template,
    message_template_errors,
    render_message_template,
)
from customers.models import Customer, SegmentMember
from notifications import gate
from notifications.channels import (
    EmailChannel,
    OutgoingMessage,
    channel_provider,
    provider_name,
    sms_segments,
)
from notifications.messages import (
    COUNTED_STATUSES,
    LEASE,
    _zone,
    active_rules,
    brand_zone,
    message_send,
    messaging_settings,
    public_base_url,
    resolve_address,
    unsubscribe_token,
)
from notifications.models import CampaignMessage, Category, Channel, Message, Preference, Suppression
from notifications.providers import ProviderError
from notifications.tracking import tracked_html
from tenants.work_due import work_due_at

# channel → ((Message field, CampaignMessage field, max length, html), …)
RENDERED = {
    "email": (
        ("subject", "email_subject", 255, False),
        ("body_text", "email_text", 100_000, False),
        ("body_html", "email_html", 100_000, True),
    ),
    "sms": (("body_text", "sms_text", 1600, False),),
    "push": (("subject", "push_title", 255, False), ("body_text", "push_body", 2000, False)),
    "in_app": (("subject", "in_app_title", 255, False), ("body_text", "in_app_body", 5000, False)),
}
# The field a channel cannot go without.
REQUIRED = {"email": "email_subject", "sms": "sms_text", "push": "push_body", "in_app": "in_app_body"}
FALLBACK_REASONS = frozenset({"suppressed", "unsubscribed", "no_address"})


def campaign_message_errors(cm: CampaignMessage) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    channels = cm.channels
    if len(set(channels)) != len(channels):
        errors.setdefault("second_channel", []).append("A channel appears twice in the fallback order.")
    for channel in channels:
        if not getattr(cm, REQUIRED[channel]).strip():
            errors.setdefault(REQUIRED[channel], []).append(f"The {channel} channel needs this text.")
    for fields in RENDERED.values():
        for _, source_field, _, _ in fields:
            problems = message_template_errors(source_field, getattr(cm, source_field))
            if problems:
                errors.setdefault(source_field, []).extend(problems)
    return errors


def message_context(
    *,
    customer_id: str,
    customer: Any,
    campaign_id: int | None,
    campaign_name: str,
    channel: str,
    category: str,
) -> dict[str, Any]:
    """The variables of a message template (MESSAGE_TEMPLATE_VARIABLES) for one customer on one channel.

    `customer` may be None (not known, or erased): then only its id is filled in.
    """
    url = ""
    if channel == Channel.EMAIL and category == Category.MARKETING:
        url = (
            f"{public_base_url()}/unsubscribe/{unsubscribe_token(customer_id=customer_id, channel=channel)}/"
        )
    return {
        "customer": {
            "customer_id": customer_id,
            "email": getattr(customer, "email", ""),
            "locale": getattr(customer, "locale", ""),
            "country": getattr(customer, "country", ""),
        },
        "campaign": {"id": campaign_id or "", "name": campaign_name},
        "unsubscribe_url": url,
    }


def _customer_context(cm: CampaignMessage, customer: Customer, channel: str) -> dict[str, Any]:
    return message_context(
        customer_id=customer.customer_id,
        customer=customer,
        campaign_id=cm.campaign_id,
        campaign_name=cm.campaign.name,
        channel=channel,
        category=cm.category,
    )


class Renderer:
    """The broadcast's templates compiled once per batch."""

    def __init__(self, cm: CampaignMessage) -> None:
        self.cm = cm
        self.compiled = {
            source: compile_message_template(getattr(cm, source))
            for fields in RENDERED.values()
            for _, source, _, _ in fields
        }

    def render(self, customer: Customer, channel: str) -> dict[str, str]:
        context = _customer_context(self.cm, customer, channel)
        return {
            target: render_message_template(self.compiled[source], context, html=html, limit=limit)
            for target, source, limit, html in RENDERED[channel]
            if getattr(self.cm, source)
        }


def preview(
    *, cm: CampaignMessage, customer_id: str, channel: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """What this customer would get: the chosen channel, the rendered texts, the gate's answer now."""
    customer = Customer.objects.filter(customer_id=customer_id, erased_at__isnull=True).first()
    if customer is None:
        raise NotFoundError("No such customer.")
    if channel and channel not in cm.channels:
        raise ValidationFailed({"channel": [f"This message is not sent on {channel!r}."]})
    now = now or timezone.now()
    [decided] = decide(cm, [customer], now=now, channels=[channel] if channel else None)
    try:
        rendered = Renderer(cm).render(customer, decided.channel)
    except NotificationRenderError as exc:
        raise ValidationFailed({"template": [str(exc)]}) from exc
    return {
        "customer_id": customer.customer_id,
        "channel": decided.channel,
        "address": decided.address,
        "subject": rendered.get("subject", ""),
        "body_text": rendered.get("body_text", ""),
        "body_html": rendered.get("body_html", ""),
        "status": decided.status,
        "skip_reason": decided.skip_reason,
    }


def campaign_message_get(campaign_id: int, campaign_message_id: int) -> CampaignMessage:
    """The campaign's message, or 404 (checked before the request's body: another brand's ids are 404)."""
    cm = (
        CampaignMessage.objects.select_related("campaign")
        .filter(pk=campaign_message_id, campaign_id=campaign_id)
        .first()
    )
    if cm is None:
        raise NotFoundError("No such message in this campaign.")
    return cm


def campaign_message_preview(
    *, campaign_id: int, campaign_message_id: int, customer_id: str, channel: str = ""
) -> dict[str, Any]:
    return preview(
        cm=campaign_message_get(campaign_id, campaign_message_id), customer_id=customer_id, channel=channel
    )


def campaign_message_test_send(
    *,
    campaign_id: int,
    campaign_message_id: int,
    channel: str,
    address: str,
    customer_id: str = "",
    actor: str,
) -> Message:
    """One test message to `address`, rendered for `customer_id` (or a sample customer)."""
    cm = campaign_message_get(campaign_id, campaign_message_id)
    if channel not in cm.channels:
        raise ValidationFailed({"channel": [f"This message is not sent on {channel!r}."]})
    customer = None
    if customer_id:
        customer = Customer.objects.filter(customer_id=customer_id, erased_at__isnull=True).first()
        if customer is None:
            raise NotFoundError("No such customer.")
    customer = customer or Customer(customer_id="test-recipient", email=address, locale="", country="")
    try:
        rendered = Renderer(cm).render(customer, channel)
    except NotificationRenderError as exc:
        raise ValidationFailed({"template": [str(exc)]}) from exc
    message = message_send(
        customer_id=customer.customer_id,
        channel=channel,
        category=Category.TRANSACTIONAL,
        topic=cm.topic,
        campaign_id=cm.campaign_id,
        address=address,
        **rendered,
    )
    audit_record(
        actor=actor,
        action="campaign_message.test_sent",
        obj_or_type=cm,
        changes={"after": {"channel": channel, "address": address, "message_id": str(message.pk)}},
    )
    return message


def lock_customers(customer_ids: list[str]) -> None:
    keys = sorted(f"messages:{connection.schema_name}:{cid}" for cid in set(customer_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM "
            "(SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS keys",
            [keys],
        )


@dataclass(frozen=True, slots=True)
class BatchGateInputs:
    """What the deliverability gate reads for a batch of customers, loaded in a few set queries."""

    suppressed: set[tuple[str, str]]
    preferences: dict[str, dict[tuple[str, str], bool]]
    recent: dict[str, list[tuple[datetime, str]]]
    quiet: tuple[Any, Any] | None
    fallback_zone: ZoneInfo


def batch_gate_inputs(
    *,
    customer_ids: list[str],
    channels: list[str],
    addresses: dict[tuple[str, str], str | None],
    count_recent: bool,
    rules: list[Any],
    now: datetime,
) -> BatchGateInputs:
    """Suppressions, preferences, recent marketing messages (for the caps) and quiet hours of a batch."""
    suppressed = set(
        Suppression.objects.filter(
            channel__in=channels, address__in={a for a in addresses.values() if a}
        ).values_list("channel", "address")
    )
    preferences: dict[str, dict[tuple[str, str], bool]] = {}
    for cid, ch, topic, opted_in in Preference.objects.filter(
        customer_id__in=customer_ids, channel__in=channels
    ).values_list("customer_id", "channel", "topic", "opted_in"):
        preferences.setdefault(cid, {})[(ch, topic)] = opted_in
    recent: dict[str, list[tuple[datetime, str]]] = {}
    if rules and count_recent:
        longest = max(rule.window for rule in rules)
        for cid, at, ch in Message.objects.filter(
            customer_id__in=customer_ids,
            category=Category.MARKETING,
            status__in=COUNTED_STATUSES,
            created_at__gt=now - longest,
        ).values_list("customer_id", "created_at", "channel"):
            recent.setdefault(cid, []).append((at, ch))
    config = messaging_settings()
    quiet = (config.quiet_start, config.quiet_end) if config.quiet_hours_enabled else None
    return BatchGateInputs(suppressed, preferences, recent, quiet, brand_zone())


def decide(
    cm: CampaignMessage, customers: list[Customer], *, now: datetime, channels: list[str] | None = None
) -> list[Message]:
    """Unsaved Message rows, one per customer, decided by the gate (call under the customers' locks)."""
    channels = channels or cm.channels
    ids = [c.customer_id for c in customers]
    addresses = {
        (ch, c.customer_id): resolve_address(ch, c, c.customer_id) for c in customers for ch in channels
    }
    rules = active_rules() if cm.category == Category.MARKETING else []
    inputs = batch_gate_inputs(
        customer_ids=ids, channels=channels, addresses=addresses, count_recent=True, rules=rules, now=now
    )
    suppressed, prefs, recent = inputs.suppressed, inputs.preferences, inputs.recent
    quiet, fallback_zone = inputs.quiet, inputs.fallback_zone
    rows = []
    for customer in customers:
        cid = customer.customer_id
        zone = _zone(customer.timezone) or fallback_zone
        decision = gate.SEND
        chosen = channels[0]
        for index, channel in enumerate(channels):
            address = addresses[(channel, cid)]
            context = gate.GateContext(
                suppressed=(channel, address) in suppressed,
                preferences=prefs.get(cid, {}),
                timezone=zone,
                quiet_hours=quiet,
                rules=rules,
                recent=recent.get(cid, ()),
            )
            request = gate.GateRequest(
                channel=channel,
                category=cm.category,
                topic=cm.topic,
                address=address,
                now=now,
                defer_when_capped=cm.defer_when_capped,
            )
            decision, chosen = gate.evaluate(request, context), channel
            if decision.reason not in FALLBACK_REASONS or index == len(channels) - 1:
                break
        rows.append(
            Message(
                customer_id=cid,
                channel=chosen,
                category=cm.category,
                topic=cm.topic,
                address=addresses[(chosen, cid)],
                campaign_id=cm.campaign_id,
                broadcast=cm,
                defer_when_capped=cm.defer_when_capped,
                provider=provider_name(chosen),
                status=decision.status,
                skip_reason=decision.reason,
                next_attempt_at=decision.until,
                created_at=now,
            )
        )
        if decision.status != gate.SKIPPED:
            recent.setdefault(cid, []).append((now, chosen))
    return rows


@transaction.atomic
def campaign_message_schedule(
    *, campaign_message_id: int, actor: str, now: datetime | None = None
) -> CampaignMessage:
    cm = CampaignMessage.objects.select_for_update().filter(pk=campaign_message_id).first()
    if cm is None:
        raise NotFoundError("No such campaign message.")
    if cm.state not in (CampaignMessage.State.DRAFT, CampaignMessage.State.CANCELLED):
        raise ConflictError(f"This message is {cm.state}; only a draft can be scheduled.")
    if cm.segment_id is None:
        raise ValidationFailed({"segment": ["A broadcast needs a target segment."]})
    errors = campaign_message_errors(cm)
    if errors:
        raise ValidationFailed(errors)
    now = now or timezone.now()
    cm.state = CampaignMessage.State.SCHEDULED
    cm.next_batch_at = max(cm.send_at or now, now)
    cm.save(update_fields=["state", "next_batch_at"])
    work_due_at(at=cm.next_batch_at)
    audit_record(
        actor=actor,
        action="campaign_message.scheduled",
        obj_or_type=cm,
        changes={"after": {"state": cm.state, "next_batch_at": cm.next_batch_at}},
    )
    return cm


@transaction.atomic
def campaign_message_cancel(*, campaign_message_id: int, actor: str) -> CampaignMessage:
    cm = CampaignMessage.objects.select_for_update().filter(pk=campaign_message_id).first()
    if cm is None:
        raise NotFoundError("No such campaign message.")
    if cm.state in (CampaignMessage.State.DONE, CampaignMessage.State.CANCELLED):
        raise ConflictError(f"This message is already {cm.state}.")
    cm.state, cm.next_batch_at = CampaignMessage.State.CANCELLED, None
    cm.save(update_fields=["state", "next_batch_at"])
    audit_record(
        actor=actor,
        action="campaign_message.cancelled",
        obj_or_type=cm,
        changes={"after": {"state": cm.state}},
    )
    return cm


def _rate(cm: CampaignMessage) -> float:
    if cm.rate_per_second:
        return float(cm.rate_per_second)
    rates = settings.MESSAGE_RATE_PER_SECOND
    return float(min(rates.get(channel, 100) for channel in cm.channels))


def broadcast_send_batch(*, campaign_message_id: int, now: datetime | None = None) -> int:
    """Decide and deliver the broadcast's next batch if it is due; the number of members done."""
    now = now or timezone.now()
    with transaction.atomic():
        cm = (
            CampaignMessage.objects.select_for_update(skip_locked=True)
            .select_related("campaign")
            .filter(pk=campaign_message_id, state__in=["scheduled", "sending"], next_batch_at__lte=now)
            .first()
        )
        if cm is None:
            return 0
        members = list(
            SegmentMember.objects.filter(
                segment_id=cm.segment_id, customer_id__gt=cm.cursor, customer__erased_at__isnull=True
            )
            .order_by("customer_id")
            .select_related("customer")[: cm.batch_size]
        )
        if not members:
            cm.state, cm.finished_at, cm.next_batch_at = CampaignMessage.State.DONE, now, None
            cm.save(update_fields=["state", "finished_at", "next_batch_at"])
            return 0
        customers = [member.customer for member in members]
        lock_customers([c.customer_id for c in customers])
        rows = decide(cm, customers, now=now)
        renderer = Renderer(cm)
        by_id = {c.customer_id: c for c in customers}
        for row in rows:
            if row.status == Message.Status.SKIPPED:
                continue
            try:
                for field, value in renderer.render(by_id[row.customer_id], row.channel).items():
                    setattr(row, field, value)
            except NotificationRenderError as exc:
                row.status, row.skip_reason, row.next_attempt_at = Message.Status.DEAD, "", None
                row.last_error = f"template: {exc}"
            if row.channel == Channel.SMS:
                row.segments = sms_segments(row.body_text)[1]
        Message.objects.bulk_create(rows)
        deferred = [
            row.next_attempt_at
            for row in rows
            if row.status == Message.Status.DEFERRED and row.next_attempt_at
        ]
        if deferred:
            work_due_at(at=min(deferred))
        cm.cursor = members[-1].customer_id
        cm.recipients_done = F("recipients_done") + len(members)
        cm.state = CampaignMessage.State.SENDING
        cm.started_at = cm.started_at or now
        cm.next_batch_at = now + timedelta(seconds=len(members) / _rate(cm))
        cm.save(update_fields=["cursor", "recipients_done", "state", "started_at", "next_batch_at"])
        work_due_at(at=cm.next_batch_at)
        queued = [row.pk for row in rows if row.status == Message.Status.QUEUED]
    messages_deliver_batch(message_ids=queued, now=now)
    return len(members)


def broadcasts_run_due(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    done = 0
    for pk in CampaignMessage.objects.filter(
        state__in=["scheduled", "sending"], next_batch_at__lte=now
    ).values_list("pk", flat=True)[:20]:
        done += broadcast_send_batch(campaign_message_id=pk, now=now)
    return done


def _send_all(channel: str, items: list[tuple[Message, OutgoingMessage]]) -> list[Any]:
    """Send one channel's messages; SMTP over MESSAGE_EMAIL_CONNECTIONS connections in parallel threads
    (each waits on its server's round trips while the others work). A result or a ProviderError each."""
    if channel != Channel.EMAIL:
        provider = channel_provider(channel)
        outcomes: list[Any] = []
        for _, outgoing in items:
            try:
                outcomes.append(provider.send(outgoing))
            except ProviderError as exc:
                outcomes.append(exc)
        return outcomes

    def run(chunk: list[tuple[int, OutgoingMessage]]) -> list[tuple[int, Any]]:
        done: list[tuple[int, Any]] = []
        email = EmailChannel()
        conn = None
        try:
            for index, outgoing in chunk:
                if conn is None:
                    conn = get_connection(
                        settings.MESSAGE_EMAIL_BACKEND, timeout=settings.NOTIFICATION_TIMEOUT_SECONDS
                    )
                    try:
                        conn.open()
                    except OSError as exc:
                        done.append((index, ProviderError(f"SMTP: {exc}", retryable=True)))
                        conn = None
                        continue
                try:
                    done.append((index, email.send(outgoing, connection=conn)))
                except ProviderError as exc:
                    done.append((index, exc))
                    conn.close()
                    conn = None  # a fresh connection for the next one
        finally:
            if conn is not None:
                conn.close()
        return done

    indexed = [(i, outgoing) for i, (_, outgoing) in enumerate(items)]
    workers = max(1, min(settings.MESSAGE_EMAIL_CONNECTIONS, len(indexed)))
    chunks = [indexed[n::workers] for n in range(workers)]
    outcomes = [None] * len(items)
    if workers == 1:
        pairs = run(chunks[0])
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pairs = [pair for part in pool.map(run, chunks) for pair in part]
    for index, outcome in pairs:
        outcomes[index] = outcome
    return outcomes


def messages_deliver_batch(*, message_ids: list[uuid.UUID], now: datetime | None = None) -> dict[str, int]:
    """Claim the queued messages with one UPDATE, send them (SMTP: a few reused connections), record the outcomes."""
    tally = {"sent": 0, "failed": 0, "dead": 0}
    if not message_ids:
        return tally
    now = now or timezone.now()
    token = uuid.uuid4()
    Message.objects.filter(pk__in=message_ids, status=Message.Status.QUEUED).update(
        status=Message.Status.SENDING,
        attempts=F("attempts") + 1,
        claimed_until=now + LEASE,
        claim_token=token,
    )
    claimed = list(Message.objects.filter(pk__in=message_ids, claim_token=token))  # by key: no scan
    unsubscribe_base = public_base_url()
    config = messaging_settings()
    by_channel: dict[str, list[tuple[Message, OutgoingMessage]]] = {}
    for message in claimed:
        url = ""
        if message.channel == Channel.EMAIL and message.category == Category.MARKETING:
            token_text = unsubscribe_token(customer_id=message.customer_id, channel="email")
            url = f"{unsubscribe_base}/unsubscribe/{token_text}/"
        outgoing = OutgoingMessage(
            message_id=str(message.pk),
            tenant=connection.schema_name,
            customer_id=message.customer_id,
            channel=message.channel,
            category=message.category,
            address=message.address,
            subject=message.subject,
            body_text=message.body_text,
            body_html=tracked_html(
                message_id=str(message.pk), html=message.body_html, base_url=unsubscribe_base
            )
            if message.category == Category.MARKETING
            else message.body_html,
            unsubscribe_url=url,
        )
        by_channel.setdefault(message.channel, []).append((message, outgoing))
    for channel, items in by_channel.items():
        for (message, _), outcome in zip(items, _send_all(channel, items), strict=True):
            if isinstance(outcome, ProviderError):
                exc = outcome
                if exc.retryable and message.attempts < settings.MESSAGE_MAX_ATTEMPTS:
                    delay = backoff_seconds(
                        attempt_number=message.attempts,
                        base_seconds=settings.NOTIFICATION_RETRY_BASE_SECONDS,
                        max_seconds=settings.NOTIFICATION_RETRY_MAX_SECONDS,
                        retry_after_seconds=exc.retry_after_seconds,
                    )
                    message.status, message.next_attempt_at = (
                        Message.Status.FAILED,
                        now + timedelta(seconds=delay),
                    )
                    tally["failed"] += 1
                else:
                    message.status, message.next_attempt_at = Message.Status.DEAD, None
                    tally["dead"] += 1
                message.last_error = exc.message
            else:
                message.status = (
                    Message.Status.DELIVERED if channel == Channel.IN_APP else Message.Status.SENT
                )
                message.provider_message_id = outcome.provider_message_id[:500]
                message.sent_at = timezone.now()
                message.cost = (
                    config.cost_sms_segment * (message.segments or 1)
                    if channel == Channel.SMS
                    else getattr(config, f"cost_{channel}")
                )
                tally["sent"] += 1
    with transaction.atomic():
        # One UPDATE for the batch, only where our token still holds (a sweep may have taken over a
        # row whose lease expired).
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {Message._meta.db_table} AS m
                SET status = v.status, next_attempt_at = v.next_attempt_at, last_error = v.last_error,
                    provider_message_id = v.provider_message_id, sent_at = v.sent_at, cost = v.cost,
                    claimed_until = NULL, claim_token = NULL, updated_at = now()
                FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::timestamptz[],
                            %s::numeric[])
                     AS v(id, status, next_attempt_at, last_error, provider_message_id, sent_at, cost)
                WHERE m.id = v.id AND m.claim_token = %s
                """,  # noqa: S608 - the table name is the model's
                [
                    [m.pk for m in claimed],
                    [m.status for m in claimed],
                    [m.next_attempt_at for m in claimed],
                    [m.last_error for m in claimed],
                    [m.provider_message_id for m in claimed],
                    [m.sent_at for m in claimed],
                    [m.cost for m in claimed],
                    token,
                ],
            )
        retry_at = [
            m.next_attempt_at for m in claimed if m.status == Message.Status.FAILED and m.next_attempt_at
        ]
        if retry_at:
            work_due_at(at=min(retry_at))
    return tally
