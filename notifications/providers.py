"""Push providers behind one small interface, chosen by `settings.NOTIFICATION_PROVIDER`.

* `console` (default): logs the message as one JSON line, returns a generated id.
* `webhook`: a signed POST (Standard Webhooks, as partner dispatches in SPEC §5,
  signed by `core.http.signing`) to the mobile backend's push gateway
  `PUSH_GATEWAY_URL`, with `PUSH_GATEWAY_SECRET`; `webhook-id` and
  `Idempotency-Key` are the notification id, so a retried or replayed
  notification is recognisable.
* `fcm`: Firebase Cloud Messaging HTTP v1, authenticated with the service
  account in `FCM_CREDENTIALS_FILE` (google-auth fetches and caches the access
  token; the project id comes from the file), one message per device token of
  the customer (`DeviceToken`).

Both HTTP providers send through `core.http.client` (no redirect followed, a
capped read, a total timeout of NOTIFICATION_TIMEOUT_SECONDS, and the SSRF guard
with DNS pinning unless NOTIFICATION_URL_ALLOW_PRIVATE is on). A provider returns
a `SendResult` or raises `ProviderError(retryable=...)`; what is retryable is
`core.delivery`'s reading of the answer (408, 429, 5xx, timeouts, connection
errors). Providers never touch the database: they run with no transaction open.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.delivery import (
    describe_response,
    excerpt,
    is_retryable_response,
    is_success_response,
    parse_retry_after,
)
from core.http import client
from core.http.signing import signed_headers

logger = logging.getLogger(__name__)

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
        self.message = excerpt(message)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds
        self.delivered_to = delivered_to or []
        self.invalid_tokens = invalid_tokens or []
        self.fcm_error_code = ""


class PushProvider(Protocol):
    name: str

    def send(self, message: PushMessage) -> SendResult: ...


def _http_error(response: client.SubmissionResponse, what: str) -> ProviderError:
    """The ProviderError of an answer that is not a 2xx (or of no answer at all)."""
    if response.status_code is None and is_retryable_response(response):
        message = f"{what} unreachable: {describe_response(response)}"
    else:
        message = f"{what} answered {describe_response(response)}"
    return ProviderError(
        message,
        retryable=is_retryable_response(response),
        status_code=response.status_code,
        retry_after_seconds=parse_retry_after(response.retry_after, now=datetime.now(UTC)),
    )


def _json(response: client.SubmissionResponse) -> Any:
    """The answer's JSON, or None (not JSON, or cut at the client's read cap)."""
    if response.body_truncated:
        return None
    try:
        return json.loads(response.body_excerpt)
    except ValueError:
        return None


def _fcm_error_code(response: client.SubmissionResponse) -> str:
    """`errorCode` of FCM's error details (UNREGISTERED, QUOTA_EXCEEDED, …), or ""."""
    try:
        details = _json(response)["error"].get("details", [])
    except (KeyError, TypeError, AttributeError):
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

    def __init__(self, *, url: str, secret: str, timeout: float, allow_private: bool) -> None:
        if not url or not secret.startswith("whsec_"):
            raise ImproperlyConfigured(
                "The webhook provider needs PUSH_GATEWAY_URL and a whsec_ PUSH_GATEWAY_SECRET."
            )
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.allow_private = allow_private

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
        ).encode()
        response = client.submit(
            url=self.url,
            body=body,
            headers=signed_headers(secret=self.secret, msg_id=message.notification_id, body=body),
            timeout_seconds=self.timeout,
            allow_private=self.allow_private,
        )
        if not is_success_response(response):
            raise _http_error(response, "push gateway")
        answered = _json(response)
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

    def __init__(self, *, credentials_file: str, base_url: str, timeout: float, allow_private: bool) -> None:
        if not credentials_file:
            raise ImproperlyConfigured(
                "The fcm provider needs FCM_CREDENTIALS_FILE (a service-account JSON key)."
            )
        self.credentials = _fcm_service_account(credentials_file)
        if not self.credentials.project_id:
            raise ImproperlyConfigured("FCM_CREDENTIALS_FILE has no project_id.")
        self.url = f"{base_url.rstrip('/')}/v1/projects/{self.credentials.project_id}/messages:send"
        self.timeout = timeout
        self.allow_private = allow_private

    def _access_token(self) -> str:
        import google.auth.exceptions
        import google.auth.transport.requests

        with _fcm_credentials_lock:
            if not self.credentials.valid:
                # google-auth's own transport (its default timeout is 2 minutes: bound it like a send).
                request = functools.partial(google.auth.transport.requests.Request(), timeout=self.timeout)
                try:
                    self.credentials.refresh(request)
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
        headers = {"Authorization": f"Bearer {self._access_token()}", "Content-Type": "application/json"}
        response = client.submit(
            url=self.url,
            body=json.dumps(payload, separators=(",", ":")).encode(),
            headers=headers,
            timeout_seconds=self.timeout,
            allow_private=self.allow_private,
        )
        if response.status_code == 401:
            self.credentials.token = None  # expired or revoked: fetch a new one on the next attempt
            raise ProviderError("fcm answered 401", retryable=True, status_code=401)
        if not is_success_response(response):
            error = _http_error(response, "fcm")
            error.fcm_error_code = _fcm_error_code(response)
            raise error
        answered = _json(response)
        return str(answered.get("name", "")) if isinstance(answered, dict) else ""

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
    allow_private = settings.NOTIFICATION_URL_ALLOW_PRIVATE
    if name == "console":
        return ConsoleProvider()
    if name == "webhook":
        return WebhookProvider(
            url=settings.PUSH_GATEWAY_URL,
            secret=settings.PUSH_GATEWAY_SECRET,
            timeout=timeout,
            allow_private=allow_private,
        )
    if name == "fcm":
        return FcmProvider(
            credentials_file=settings.FCM_CREDENTIALS_FILE,
            base_url=settings.FCM_BASE_URL,
            timeout=timeout,
            allow_private=allow_private,
        )
    raise ImproperlyConfigured(f"Unknown NOTIFICATION_PROVIDER {name!r} (console, webhook or fcm).")
