"""Push providers behind one small interface, chosen by `settings.NOTIFICATION_PROVIDER`.

* `console` (default): logs the message as one JSON line, returns a generated id.
* `webhook`: a signed POST (Standard Webhooks, as partner dispatches in SPEC §5)
  to the mobile backend's push gateway `PUSH_GATEWAY_URL`, signed with
  `PUSH_GATEWAY_SECRET`; `webhook-id` and `Idempotency-Key` are the
  notification id, so a retried or replayed notification is recognisable.
* `fcm`: Firebase Cloud Messaging HTTP v1, authenticated with the service
  account in `FCM_CREDENTIALS_FILE` (google-auth; the project id comes from the
  file), one message per device token of the customer (`DeviceToken`).

A provider returns a `SendResult` or raises `ProviderError(retryable=...)`:
408, 429, 5xx, timeouts and connection errors are retryable, other 4xx are not.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from standardwebhooks import Webhook

from core.delivery import parse_retry_after

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
ERROR_EXCERPT = 500
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


@dataclass(frozen=True)
class PushMessage:
    notification_id: str
    tenant: str
    customer_id: str
    title: str
    body: str
    # Plain strings only (FCM data values must be strings).
    data: dict[str, str] = field(default_factory=dict)
    # fcm: the customer's device tokens, and those that already took this message.
    device_tokens: tuple[str, ...] = ()
    delivered_to: tuple[str, ...] = ()


@dataclass
class SendResult:
    provider_message_id: str
    status_code: int | None = None
    delivered_to: list[str] = field(default_factory=list)
    invalid_tokens: list[str] = field(default_factory=list)


class ProviderError(Exception):
    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
        delivered_to: list[str] | None = None,
        invalid_tokens: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message[:ERROR_EXCERPT]
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds
        self.delivered_to = delivered_to or []
        self.invalid_tokens = invalid_tokens or []
        self.fcm_error_code = ""


class PushProvider(Protocol):
    name: str

    def send(self, message: PushMessage) -> SendResult: ...


def _retry_after_seconds(response: requests.Response) -> float | None:
    # One reading of Retry-After for the platform: the partner dispatch's (seconds or an HTTP date).
    return parse_retry_after(response.headers.get("Retry-After"), now=datetime.now(UTC))


def _http_error(response: requests.Response, what: str) -> ProviderError:
    return ProviderError(
        f"{what} answered {response.status_code}: {response.text[:200]}",
        retryable=response.status_code in RETRYABLE_STATUS,
        status_code=response.status_code,
        retry_after_seconds=_retry_after_seconds(response),
    )


def _fcm_error_code(response: requests.Response) -> str:
    """`errorCode` of FCM's error details (UNREGISTERED, QUOTA_EXCEEDED, …), or ""."""
    try:
        details = response.json()["error"].get("details", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return ""


class ConsoleProvider:
    """Development default: the push is a log line."""

    name = "console"

    def send(self, message: PushMessage) -> SendResult:
        message_id = f"console-{uuid.uuid4().hex}"
        logger.info(
            "push notification",
            extra={
                "push": {
                    "provider_message_id": message_id,
                    "notification_id": message.notification_id,
                    "customer_id": message.customer_id,
                    "title": message.title,
                    "body": message.body,
                    "data": message.data,
                }
            },
        )
        return SendResult(provider_message_id=message_id)


class WebhookProvider:
    """Signed POST to the brand's push gateway (which knows the customer's devices)."""

    name = "webhook"

    def __init__(self, *, url: str, secret: str, timeout: float) -> None:
        if not url or not secret.startswith("whsec_"):
            raise ImproperlyConfigured(
                "The webhook provider needs PUSH_GATEWAY_URL and a whsec_ PUSH_GATEWAY_SECRET."
            )
        self.url = url
        self.webhook = Webhook(secret)
        self.timeout = timeout

    def send(self, message: PushMessage) -> SendResult:
        body = json.dumps(
            {
                "type": "notification.push",
                "notification_id": message.notification_id,
                "tenant": message.tenant,
                "customer_id": message.customer_id,
                "title": message.title,
                "body": message.body,
                "data": message.data,
            },
            separators=(",", ":"),
        )
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message.notification_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(message.notification_id, now, body),
            "Idempotency-Key": message.notification_id,
        }
        try:
            response = requests.post(
                self.url, data=body.encode(), headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise ProviderError(
                f"push gateway unreachable: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        if not 200 <= response.status_code < 300:
            raise _http_error(response, "push gateway")
        try:
            answered = response.json()
        except ValueError:
            answered = {}
        message_id = ""
        if isinstance(answered, dict):
            message_id = str(answered.get("message_id") or answered.get("id") or "")
        return SendResult(
            provider_message_id=message_id or message.notification_id, status_code=response.status_code
        )


_fcm_credentials_lock = threading.Lock()
_fcm_credentials: dict[str, Any] = {}


def _fcm_service_account(path: str) -> Any:
    """One google-auth credentials object per file and process: it caches its access token."""
    from google.oauth2 import service_account

    with _fcm_credentials_lock:
        if path not in _fcm_credentials:
            _fcm_credentials[path] = service_account.Credentials.from_service_account_file(
                path, scopes=[FCM_SCOPE]
            )
        return _fcm_credentials[path]


class FcmProvider:
    """Firebase Cloud Messaging HTTP v1: one `messages:send` per device token of the customer."""

    name = "fcm"

    def __init__(self, *, credentials_file: str, base_url: str, timeout: float) -> None:
        if not credentials_file:
            raise ImproperlyConfigured(
                "The fcm provider needs FCM_CREDENTIALS_FILE (a service-account JSON key)."
            )
        self.credentials = _fcm_service_account(credentials_file)
        if not self.credentials.project_id:
            raise ImproperlyConfigured("FCM_CREDENTIALS_FILE has no project_id.")
        self.url = f"{base_url.rstrip('/')}/v1/projects/{self.credentials.project_id}/messages:send"
        self.timeout = timeout

    def _access_token(self) -> str:
        import google.auth.exceptions
        import google.auth.transport.requests

        with _fcm_credentials_lock:
            if not self.credentials.valid:
                try:
                    self.credentials.refresh(google.auth.transport.requests.Request())
                except google.auth.exceptions.GoogleAuthError as exc:
                    # The token endpoint is down or refused: retry later (a revoked key ends in dead).
                    raise ProviderError(f"fcm credentials: {exc}", retryable=True) from exc
            return self.credentials.token

    def _send_one(self, message: PushMessage, token: str) -> str:
        payload = {
            "message": {
                "token": token,
                "notification": {"title": message.title, "body": message.body},
                "data": {"notification_id": message.notification_id, **message.data},
            }
        }
        headers = {"Authorization": f"Bearer {self._access_token()}", "content-type": "application/json"}
        try:
            response = requests.post(
                self.url, json=payload, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise ProviderError(f"fcm unreachable: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code == 401:
            self.credentials.token = None  # expired or revoked: fetch a new one on the next attempt
            raise ProviderError("fcm answered 401", retryable=True, status_code=401)
        if not 200 <= response.status_code < 300:
            error = _http_error(response, "fcm")
            error.fcm_error_code = _fcm_error_code(response)
            raise error
        try:
            return str(response.json().get("name", ""))
        except (ValueError, AttributeError):
            return ""

    @staticmethod
    def _token_is_invalid(error: ProviderError) -> bool:
        # FCM says UNREGISTERED when the app was uninstalled or the token expired.
        return getattr(error, "fcm_error_code", "") == "UNREGISTERED"

    def send(self, message: PushMessage) -> SendResult:
        if not message.device_tokens:
            raise ProviderError("the customer has no registered device token", retryable=False)
        delivered = list(message.delivered_to)
        invalid: list[str] = []
        names: list[str] = []
        for token in message.device_tokens:
            if token in delivered:
                continue
            try:
                names.append(self._send_one(message, token))
                delivered.append(token)
            except ProviderError as exc:
                if self._token_is_invalid(exc):
                    invalid.append(token)
                    continue
                exc.delivered_to, exc.invalid_tokens = delivered, invalid
                raise
        if not delivered:
            raise ProviderError(
                "every device token of the customer was rejected as invalid",
                retryable=False,
                status_code=404,
                invalid_tokens=invalid,
            )
        return SendResult(
            provider_message_id=",".join(n for n in names if n)[:500],
            status_code=200,
            delivered_to=delivered,
            invalid_tokens=invalid,
        )


def get_provider(name: str | None = None) -> PushProvider:
    """The provider named in settings (or `name`); a misconfiguration fails loudly, never silently."""
    name = name or settings.NOTIFICATION_PROVIDER
    timeout = settings.NOTIFICATION_TIMEOUT_SECONDS
    if name == "console":
        return ConsoleProvider()
    if name == "webhook":
        return WebhookProvider(
            url=settings.PUSH_GATEWAY_URL, secret=settings.PUSH_GATEWAY_SECRET, timeout=timeout
        )
    if name == "fcm":
        return FcmProvider(
            credentials_file=settings.FCM_CREDENTIALS_FILE, base_url=settings.FCM_BASE_URL, timeout=timeout
        )
    raise ImproperlyConfigured(f"Unknown NOTIFICATION_PROVIDER {name!r} (console, webhook or fcm).")
