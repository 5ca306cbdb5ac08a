"""Operator notifications of alarms: email (Django's mail backend, SMTP from env) and a signed webhook.

The webhook is signed like partner dispatches (Standard Webhooks, SPEC §5, `core.http.signing`) with
ALARM_WEBHOOK_SECRET; `webhook-id` is stable per alarm and event, so a receiver can drop a delivery it
already has. It goes through the hardened client (`core.http.client`): no redirect is followed (a 3xx
is a failure), the answer is read up to a cap, the whole request is bounded by
ALARM_WEBHOOK_TIMEOUT_SECONDS, and a URL resolving to a private or loopback address is refused unless
ALARM_WEBHOOK_ALLOW_PRIVATE is on.
Both raise on failure: the caller records the error and the next tick tries again.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from core.delivery import describe_response, is_success_response
from core.http import client
from core.http.signing import signed_headers
from monitoring.alarms.models import Alarm

FIRED = "fired"
CLEARED = "cleared"


class AlarmWebhookError(Exception):
    """The alarm webhook did not answer 2xx; the message says what it did answer."""


def email_enabled() -> bool:
    return bool(settings.ALARM_EMAIL_TO)


def webhook_enabled() -> bool:
    return bool(settings.ALARM_WEBHOOK_URL and settings.ALARM_WEBHOOK_SECRET)


def alarm_payload(alarm: Alarm, event: str) -> dict[str, Any]:
    rule = alarm.rule
    return {
        "type": f"alarm.{event}",
        "alarm_id": alarm.pk,
        "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind, "threshold": str(rule.threshold)},
        "tenant": alarm.brand.schema_name,
        "partner": alarm.partner_slug or None,
        "value": str(alarm.fired_value if event == FIRED else alarm.cleared_value),
        "fired_at": alarm.fired_at.isoformat(),
        "cleared_at": alarm.cleared_at.isoformat() if alarm.cleared_at else None,
    }


def _subject(alarm: Alarm, event: str) -> str:
    target = alarm.brand.schema_name + (f" / partner {alarm.partner_slug}" if alarm.partner_slug else "")
    state = "FIRING" if event == FIRED else "CLEARED"
    value = alarm.fired_value if event == FIRED else alarm.cleared_value
    return f"[alarm {state}] {alarm.rule.name} — {target} (value {value}, threshold {alarm.rule.threshold})"


def send_alarm_email(alarm: Alarm, event: str) -> None:
    payload = alarm_payload(alarm, event)
    body = "\n".join(f"{key}: {value}" for key, value in payload.items() if key != "rule") + (
        f"\nrule: {alarm.rule.name} ({alarm.rule.get_kind_display()})\n"
    )
    EmailMessage(
        subject=_subject(alarm, event),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(settings.ALARM_EMAIL_TO),
    ).send(fail_silently=False)


def send_alarm_webhook(alarm: Alarm, event: str) -> None:
    body = json.dumps(alarm_payload(alarm, event), separators=(",", ":")).encode()
    headers = signed_headers(
        secret=settings.ALARM_WEBHOOK_SECRET, msg_id=f"alarm-{alarm.pk}-{event}", body=body
    )
    response = client.submit(
        url=settings.ALARM_WEBHOOK_URL,
        body=body,
        headers=headers,
        timeout_seconds=settings.ALARM_WEBHOOK_TIMEOUT_SECONDS,
        allow_private=settings.ALARM_WEBHOOK_ALLOW_PRIVATE,
    )
    if not is_success_response(response):
        raise AlarmWebhookError(describe_response(response))
