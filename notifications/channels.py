"""Message channels (SPEC §14) behind one interface: `send(OutgoingMessage) -> SendResult`.

* email: Django's mail API (`EMAIL_BACKEND`: SMTP by default, any django-anymail ESP backend by
  settings). Marketing emails carry `List-Unsubscribe` (the signed public URL) and
  `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058). The provider message id is the
  ESP's (`anymail_status.message_id`) or our own `Message-ID` header.
* sms (`SMS_PROVIDER`): `console` (a log line), `webhook` (a Standard Webhooks signed POST to
  `SMS_WEBHOOK_URL`), `twilio` (Twilio's Messages API: a form POST with basic auth to
  `SMS_TWILIO_BASE_URL`). GSM-7 / UCS-2 segment counting in `sms_segments`.
* push: today's push providers (notifications/providers.py, `NOTIFICATION_PROVIDER`).
* in_app: nothing leaves the platform; the message row is the inbox entry.

Providers never touch the database. Errors are `ProviderError(retryable=…)` with
`core.delivery`'s reading of HTTP answers; SMTP connection errors and 4xx SMTP replies are
retryable, 5xx SMTP replies are final.
"""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import uuid
from dataclasses import dataclass
from email.utils import make_msgid
from typing import Any, Protocol
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection

from core.delivery import is_success_response
from core.http import client
from core.http.signing import signed_headers
from notifications.providers import ProviderError, PushMessage, SendResult, _http_error, _json
from notifications.providers import get_provider as get_push_provider

logger = logging.getLogger(__name__)

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[str, int]:
    """(encoding, segments): GSM-7 160 septets or 153 per part; else UCS-2 70 or 67 UTF-16 units."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        return "gsm7", 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return "ucs2", 1 if units <= 70 else -(-units // 67)


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    tenant: str
    customer_id: str
    channel: str
    category: str
    address: str
    subject: str
    body_text: str
    body_html: str
    unsubscribe_url: str = ""


class ChannelProvider(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> SendResult: ...


class EmailChannel:
    name = "email"

    def send(self, message: OutgoingMessage, connection: Any = None) -> SendResult:
        domain = settings.MESSAGE_FROM_EMAIL.rpartition("@")[2] or "localhost"
        message_id_header = make_msgid(idstring=message.message_id.replace("-", ""), domain=domain)
        headers = {"Message-ID": message_id_header, "X-Message-Id": message.message_id}
        if message.unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body_text,
            from_email=settings.MESSAGE_FROM_EMAIL,
            to=[message.address],
            headers=headers,
            connection=get_connection(
                settings.MESSAGE_EMAIL_BACKEND, timeout=settings.NOTIFICATION_TIMEOUT_SECONDS
            ),
        )
        if message.body_html:
            email.attach_alternative(message.body_html, "text/html")
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPResponseException as exc:
            raise ProviderError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise ProviderError(
                f"SMTP recipients refused: {exc.recipients!r}", retryable=all(c < 500 for c in codes)
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ProviderError(f"SMTP: {exc}", retryable=True) from exc
        except Exception as exc:  # an anymail backend's error (AnymailError): the ESP refused or failed
            status = getattr(exc, "status_code", None)
            retryable = status is None or status >= 500 or status in (408, 429)
            raise ProviderError(f"ESP: {exc}", retryable=retryable, status_code=status) from exc
        status = getattr(email, "anymail_status", None)
        esp_id = getattr(status, "message_id", None) if status is not None else None
        return SendResult(provider_message_id=str(esp_id or message_id_header.strip("<>")))


class ConsoleSms:
    name = "console"

    def send(self, message: OutgoingMessage) -> SendResult:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info(
            "sms", extra={"sms": {"to": message.address, "text": message.body_text, "id": message_id}}
        )
        return SendResult(provider_message_id=message_id)


class WebhookSms:
    """A signed POST (Standard Webhooks) to the brand's SMS gateway; `webhook-id` is the message id."""

    name = "webhook"

    def __init__(self, *, url: str, secret: str) -> None:
        if not url or not secret.startswith("whsec_"):
            raise ImproperlyConfigured(
                "The sms webhook provider needs SMS_WEBHOOK_URL and a whsec_ SMS_WEBHOOK_SECRET."
            )
        self.url, self.secret = url, secret

    def send(self, message: OutgoingMessage) -> SendResult:
        encoding, segments = sms_segments(message.body_text)
        body = json.dumps(
            {
                "type": "message.sms",
                "message_id": message.message_id,
                "tenant": message.tenant,
                "to": message.address,
                "text": message.body_text,
                "encoding": encoding,
                "segments": segments,
            },
            separators=(",", ":"),
        ).encode()
        response = client.submit(
            url=self.url,
            body=body,
            headers=signed_headers(secret=self.secret, msg_id=message.message_id, body=body),
            timeout_seconds=settings.NOTIFICATION_TIMEOUT_SECONDS,
            allow_private=settings.NOTIFICATION_URL_ALLOW_PRIVATE,
        )
        if not is_success_response(response):
            raise _http_error(response, "sms gateway")
        answered = _json(response)
        got = (
            str(answered.get("message_id") or answered.get("id") or "") if isinstance(answered, dict) else ""
        )
        return SendResult(provider_message_id=got or message.message_id, status_code=response.status_code)


class TwilioSms:
    """Twilio's Messages API: POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded."""

    name = "twilio"

    def __init__(self, *, base_url: str, account_sid: str, auth_token: str, sender: str) -> None:
        if not (account_sid and auth_token and sender):
            raise ImproperlyConfigured(
                "The twilio provider needs SMS_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and SMS_FROM."
            )
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.sender = sender

    def send(self, message: OutgoingMessage) -> SendResult:
        body = urlencode({"To": message.address, "From": self.sender, "Body": message.body_text}).encode()
        response = client.submit(
            url=self.url,
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {self.auth}",
                "Idempotency-Key": message.message_id,
            },
            timeout_seconds=settings.NOTIFICATION_TIMEOUT_SECONDS,
            allow_private=settings.NOTIFICATION_URL_ALLOW_PRIVATE,
        )
        if not is_success_response(response):
            raise _http_error(response, "twilio")
        answered = _json(response)
        sid = str(answered.get("sid") or "") if isinstance(answered, dict) else ""
        return SendResult(provider_message_id=sid or message.message_id, status_code=response.status_code)


class PushChannel:
    name = "push"

    def send(self, message: OutgoingMessage) -> SendResult:
        return get_push_provider().send(
            PushMessage(
                notification_id=message.message_id,
                tenant=message.tenant,
                customer_id=message.customer_id,
                title=message.subject,
                body=message.body_text,
                data={"message_id": message.message_id, "category": message.category},
            )
        )


class InAppChannel:
    name = "in_app"

    def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(provider_message_id=message.message_id)


def sms_provider() -> ChannelProvider:
    name = settings.SMS_PROVIDER
    if name == "console":
        return ConsoleSms()
    if name == "webhook":
        return WebhookSms(url=settings.SMS_WEBHOOK_URL, secret=settings.SMS_WEBHOOK_SECRET)
    if name == "twilio":
        return TwilioSms(
            base_url=settings.SMS_TWILIO_BASE_URL,
            account_sid=settings.SMS_TWILIO_ACCOUNT_SID,
            auth_token=settings.SMS_TWILIO_AUTH_TOKEN,
            sender=settings.SMS_FROM,
        )
    raise ImproperlyConfigured(f"Unknown SMS_PROVIDER {name!r} (console, webhook or twilio).")


def channel_provider(channel: str) -> ChannelProvider:
    if channel == "email":
        return EmailChannel()
    if channel == "sms":
        return sms_provider()
    if channel == "push":
        return PushChannel()
    if channel == "in_app":
        return InAppChannel()
    raise ImproperlyConfigured(f"Unknown channel {channel!r}.")


def provider_name(channel: str) -> str:
    if channel == "email":
        backend = settings.MESSAGE_EMAIL_BACKEND
        return backend.rsplit(".", 2)[-2] if backend.startswith("anymail.") else "smtp"
    if channel == "sms":
        return settings.SMS_PROVIDER
    if channel == "push":
        return settings.NOTIFICATION_PROVIDER
    return "in_app"
