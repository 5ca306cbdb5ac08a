"""The sends of a batch of enrollments, through the deliverability gate (SPEC §14) in set queries.

Like a broadcast batch (notifications/broadcasts.py): every customer's advisory lock in key order
(so journey batches, broadcasts and single sends never deadlock), the gate's inputs for the whole
batch in a few queries (suppressions, preferences, recent marketing messages), the pure gate per
send, and one INSERT of the message rows. Each row's id is the step run's idempotency key
(journeys/flow.py), inserted with ON CONFLICT DO NOTHING, so a step decided twice writes one message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from campaigns.models import Campaign
from core.templating import NotificationRenderError, compile_message_template, render_message_template
from customers.models import Customer
from journeys.rows import insert_rows
from notifications import gate
from notifications.broadcasts import batch_gate_inputs, lock_customers, message_context
from notifications.channels import provider_name, sms_segments
from notifications.messages import (
    _zone,
    active_rules,
    resolve_address,
)
from notifications.models import Category, Channel, Message


@dataclass(frozen=True)
class Send:
    message_id: uuid.UUID
    customer_id: str
    channel: str
    category: str
    topic: str
    subject: str
    body_text: str
    campaign_id: int | None
    variant: str
    journey_step: str


def decide_sends(sends: Sequence[Send], *, now: datetime) -> list[dict[str, Any]]:
    """The message rows of `sends` (by column), decided by the gate and written (inside a transaction)."""
    if not sends:
        return []
    ids = sorted({s.customer_id for s in sends})
    lock_customers(ids)
    customers = {
        c.customer_id: c
        for c in Customer.objects.filter(customer_id__in=ids, erased_at__isnull=True).only(
            "customer_id", "email", "phone", "timezone", "locale", "country"
        )
    }
    campaign_names = dict(
        Campaign.objects.filter(pk__in={s.campaign_id for s in sends if s.campaign_id}).values_list(
            "pk", "name"
        )
    )
    renderer = _Renderer()
    channels = sorted({s.channel for s in sends})
    addresses = {
        (s.channel, s.customer_id): resolve_address(s.channel, customers.get(s.customer_id), s.customer_id)
        for s in sends
    }
    rules = active_rules()
    inputs = batch_gate_inputs(
        customer_ids=ids,
        channels=channels,
        addresses=addresses,
        count_recent=any(s.category == Category.MARKETING for s in sends),
        rules=rules,
        now=now,
    )
    suppressed, prefs, recent = inputs.suppressed, inputs.preferences, inputs.recent
    quiet, fallback_zone = inputs.quiet, inputs.fallback_zone
    rows: list[dict[str, Any]] = []
    providers: dict[str, str] = {}
    segments: dict[str, int] = {}
    for send in sends:
        customer: Any = customers.get(send.customer_id)
        address = addresses[(send.channel, send.customer_id)]
        context = gate.GateContext(
            suppressed=(send.channel, address) in suppressed,
            preferences=prefs.get(send.customer_id, {}),
            timezone=(_zone(customer.timezone) if customer else None) or fallback_zone,
            quiet_hours=quiet,
            rules=rules,
            recent=recent.get(send.customer_id, ()),
        )
        request = gate.GateRequest(
            channel=send.channel,
            category=send.category,
            topic=send.topic,
            address=address,
            now=now,
            defer_when_capped=False,
        )
        decision = gate.evaluate(request, context)
        status, reason, until, last_error = decision.status, decision.reason, decision.until, ""
        try:
            variables = message_context(
                customer_id=send.customer_id,
                customer=customer,
                campaign_id=send.campaign_id,
                campaign_name=campaign_names.get(send.campaign_id or 0, ""),
                channel=send.channel,
                category=send.category,
            )
            subject = renderer.render(send.subject, variables, limit=255)
            body_text = renderer.render(send.body_text, variables, limit=20_000)
        except NotificationRenderError as exc:
            # Saved templates are checked; what fails here anyway is dead-lettered with its reason.
            subject, body_text = send.subject, send.body_text
            status, reason, until, last_error = Message.Status.DEAD, "", None, f"render: {exc}"[:1000]
        row = {
            "id": send.message_id,
            "customer_id": send.customer_id,
            "channel": send.channel,
            "category": send.category,
            "topic": send.topic,
            "address": address,
            "subject": subject,
            "body_text": body_text,
            "campaign_id": send.campaign_id,
            "variant": send.variant,
            "journey_step": send.journey_step,
            "provider": providers.setdefault(send.channel, provider_name(send.channel)),
            "status": status,
            "skip_reason": reason,
            "next_attempt_at": until,
            "last_error": last_error,
            "created_at": now,
            "segments": segments.setdefault(body_text, sms_segments(body_text)[1])
            if send.channel == Channel.SMS
            else None,
        }
        rows.append(row)
        if status not in (gate.SKIPPED, Message.Status.DEAD) and send.category == Category.MARKETING:
            recent.setdefault(send.customer_id, []).append((now, send.channel))
    insert_rows(Message, rows)
    return rows


class _Renderer:
    """A batch's templates compiled once each; a text without a tag or a variable is used as it is."""

    def __init__(self) -> None:
        self.compiled: dict[str, Any] = {}

    def render(self, source: str, variables: dict[str, Any], *, limit: int) -> str:
        if "{" not in source:
            return source
        template = self.compiled.get(source)
        if template is None:
            template = self.compiled[source] = compile_message_template(source)
        return render_message_template(template, variables, limit=limit)
