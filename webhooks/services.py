"""Outgoing webhooks (SPEC §15): endpoints, fan-out of domain events, delivery, retries, replay, tests.

Endpoints are configured by the CRM (API and admin). Events are written by the apps that cause them
(`outbox.events.emit`, in their transaction); `webhook_events_fan_out` turns each pending event into
one `WebhookDelivery` per enabled endpoint subscribed to its type, and marks the event fanned out,
in one transaction: delivery is at least once.

Sending a batch of deliveries (`webhook_deliveries_send`) is claim → send → record on
`core.delivery` (as partner dispatches, docs/adr/0006-partner-dispatch.md):

1. **Claim** (a short transaction): sendable rows are locked `FOR UPDATE SKIP LOCKED`, their
   attempt counter goes up *before* sending, status `sending`, a lease (`claimed_until`,
   `claim_token`). The body and the secrets are read here.
2. **Send** (no transaction): concurrently through `core.http.client.submit_many`, Standard
   Webhooks signed: `webhook-id` = the delivery id (the same on every attempt and replay),
   one signature per valid secret (two during a rotation).
3. **Record** (a short transaction): an attempt row, the new state, fenced by the claim token;
   the endpoint's `failing_since` is set on a failure and cleared on a success; an endpoint failing
   for 5 days is disabled (its open deliveries become dead, replayable) and the monitoring alarm
   `webhook_endpoint_disabled` fires.

A worker lost between 1 and 3 leaves the lease to expire; the sweep (the maintenance tick) sends it
again, with the same `webhook-id`.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core import task_names
from core.actors import SYSTEM_ACTOR
from core.audit import audit_record, changes_between, model_update, values_of
from core.delivery import BatchResult, describe_response, excerpt, is_success_response
from core.exceptions import ConflictError, NotFoundError, ValidationFailed, validate_model
from core.http import client
from core.http.signing import signed_headers
from core.http.url_guard import UnsafeUrlError, assert_url_allowed
from outbox import events
from outbox.events import SUBSCRIBABLE_EVENT_TYPES, EventType
from outbox.models import DomainEvent
from outbox.services import outbox_enqueue
from partners.services import partner_secret_generate
from webhooks import policy
from webhooks.models import OPEN_DELIVERY_STATUSES, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SECRET_ROTATION_OVERLAP = timedelta(hours=24)
EDITABLE_FIELDS = ("url", "description", "event_types", "is_enabled")
AUDITED_FIELDS = ("url", "description", "event_types", "is_enabled", "disabled_reason")
FAN_OUT_BATCH = 500
SEND_CHUNK = 64
SWEEP_LIMIT = 1000
LEASE_MARGIN = timedelta(seconds=60)
# A queued delivery this old lost its send message (or was fanned out by a lost worker): swept.
STALE_QUEUED_AFTER = timedelta(seconds=30)
# A pending event this old lost its fan-out message: the sweep fans it out.
STALE_EVENT_AFTER = timedelta(seconds=5)
MANUALLY_DISABLED_ERROR = "endpoint disabled by hand: replay once it is enabled again"
DISABLED_ERROR = "endpoint disabled after failing for 5 days: replay once it is fixed and enabled"


# --------------------------------------------------------------------------- endpoints


def _clean_event_types(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationFailed({"event_types": ["Choose at least one event type."]})
    unknown = [v for v in value if v not in SUBSCRIBABLE_EVENT_TYPES]
    if unknown:
        raise ValidationFailed({"event_types": [f"Unknown event type(s): {', '.join(map(str, unknown))}."]})
    return [t for t in SUBSCRIBABLE_EVENT_TYPES if t in set(value)]


def check_url(url: str) -> None:
    try:
        assert_url_allowed(url or "", allow_private=settings.WEBHOOK_URL_ALLOW_PRIVATE)
    except UnsafeUrlError as exc:
        raise ValidationFailed({"url": [str(exc).replace("partner URLs", "webhook URLs")]}) from None


def _validate(endpoint: WebhookEndpoint, *, url_changed: bool = True) -> None:
    if url_changed:
        check_url(endpoint.url)
    endpoint.event_types = _clean_event_types(endpoint.event_types)
    validate_model(endpoint, exclude=["previous_secret", "previous_secret_expires_at"])


@dataclass(frozen=True)
class EndpointCreated:
    endpoint: WebhookEndpoint
    secret: str  # shown once, in the create response


@transaction.atomic
def webhook_endpoint_create(
    *, actor: str, url: str, event_types: Sequence[str], description: str = "", is_enabled: bool = True
) -> EndpointCreated:
    """A new endpoint with a generated `whsec_…` secret (returned once)."""
    secret = partner_secret_generate()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        event_types=list(event_types) if isinstance(event_types, list | tuple) else event_types,
        secret=secret,
        is_enabled=is_enabled,
        disabled_reason="" if is_enabled else WebhookEndpoint.DisabledReason.MANUAL,
        disabled_at=None if is_enabled else timezone.now(),
    )
    _validate(endpoint)
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook_endpoint.created",
        obj_or_type=endpoint,
        changes=changes_between(None, values_of(endpoint, AUDITED_FIELDS)),
    )
    transaction.on_commit(events.subscriptions_changed)
    events.subscriptions_changed()
    logger.info("webhook endpoint created", extra={"endpoint_id": endpoint.pk, "actor": actor})
    return EndpointCreated(endpoint=endpoint, secret=secret)


def _lock_endpoint(endpoint_id: Any) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.select_for_update().get(pk=int(endpoint_id))
    except (WebhookEndpoint.DoesNotExist, TypeError, ValueError):
        raise NotFoundError(f"Webhook endpoint {endpoint_id} does not exist.") from None


@transaction.atomic
def webhook_endpoint_update(*, endpoint_id: int, actor: str, data: dict[str, Any]) -> WebhookEndpoint:
    """Change url, description, event types or `is_enabled`. Enabling again clears the failure streak."""
    endpoint = _lock_endpoint(endpoint_id)
    before = values_of(endpoint, AUDITED_FIELDS)
    data = {k: v for k, v in data.items() if k in EDITABLE_FIELDS}
    if "event_types" in data:
        data["event_types"] = _clean_event_types(data["event_types"])
    changed = model_update(endpoint, data, fields=EDITABLE_FIELDS)
    if not changed:
        return endpoint
    if "is_enabled" in changed:
        if endpoint.is_enabled:
            endpoint.disabled_reason = WebhookEndpoint.DisabledReason.NONE
            endpoint.disabled_at = None
            endpoint.failing_since = None
        else:
            endpoint.disabled_reason = WebhookEndpoint.DisabledReason.MANUAL
            endpoint.disabled_at = timezone.now()
    _validate(endpoint, url_changed="url" in changed)
    endpoint.save()
    if not endpoint.is_enabled and "is_enabled" in changed:
        _open_deliveries_dead(endpoint_id=endpoint.pk, error=MANUALLY_DISABLED_ERROR, now=timezone.now())
    audit_record(
        actor=actor,
        action="webhook_endpoint.updated",
        obj_or_type=endpoint,
        changes=changes_between(before, values_of(endpoint, AUDITED_FIELDS)),
    )
    transaction.on_commit(events.subscriptions_changed)
    events.subscriptions_changed()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint_id: int, actor: str) -> None:
    """Delete the endpoint and its delivery history."""
    endpoint = _lock_endpoint(endpoint_id)
    before = values_of(endpoint, AUDITED_FIELDS)
    audit_record(
        actor=actor,
        action="webhook_endpoint.deleted",
        obj_or_type=endpoint,
        changes=changes_between(before, None),
    )
    endpoint.delete()
    transaction.on_commit(events.subscriptions_changed)
    events.subscriptions_changed()


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint_id: int, actor: str) -> EndpointCreated:
    """A new secret (returned once); the current one keeps signing, as a second signature, for 24 h."""
    endpoint = _lock_endpoint(endpoint_id)
    now = timezone.now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + SECRET_ROTATION_OVERLAP
    endpoint.secret = partner_secret_generate()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    audit_record(
        actor=actor,
        action="webhook_endpoint.secret_rotated",
        obj_or_type=endpoint,
        changes={"secret": {"before": "[redacted]", "after": "[redacted]"}},
    )
    return EndpointCreated(endpoint=endpoint, secret=endpoint.secret)


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, tuple[str, ...]]:
    """The current secret, and the previous one while its overlap lasts."""
    previous = ()
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        previous = (endpoint.previous_secret,)
    return endpoint.secret, previous


# --------------------------------------------------------------------------- fan-out


def event_body(event: DomainEvent, *, tenant: str) -> bytes:
    """The JSON body of an event (Standard Webhooks' recommended shape, plus the event id and brand)."""
    return orjson.dumps(
        {
            "id": str(event.id),
            "type": event.event_type,
            "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
            "tenant": tenant,
            "data": event.data,
        }
    )


def webhook_events_fan_out(
    *, limit: int = FAN_OUT_BATCH, older_than: timedelta | None = None
) -> list[uuid.UUID]:
    """One delivery per (pending event, enabled endpoint subscribed to its type); returns the new ids."""
    return _fan_out_batch(limit=limit, older_than=older_than)[1]


@transaction.atomic
def _fan_out_batch(*, limit: int, older_than: timedelta | None) -> tuple[int, list[uuid.UUID]]:
    """(events claimed, deliveries created) of one batch of pending events."""
    pending = DomainEvent.objects.filter(fanned_out_at__isnull=True)
    if older_than is not None:
        pending = pending.filter(occurred_at__lte=timezone.now() - older_than)
    claimed = list(
        pending.select_for_update(skip_locked=True).order_by("occurred_at").only("id", "event_type")[:limit]
    )
    if not claimed:
        return 0, []
    endpoints = list(WebhookEndpoint.objects.filter(is_enabled=True).only("id", "event_types"))
    deliveries = [
        WebhookDelivery(endpoint_id=endpoint.id, event_id=event.id, event_type=event.event_type)
        for event in claimed
        for endpoint in endpoints
        if event.event_type in endpoint.event_types
    ]
    created = WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
    DomainEvent.objects.filter(id__in=[e.id for e in claimed]).update(fanned_out_at=timezone.now())
    return len(claimed), [d.id for d in created]


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class ClaimedDelivery:
    delivery_id: uuid.UUID
    endpoint_id: int
    is_test: bool
    attempt_number: int
    attempts_used: int
    url: str
    secret: str
    also_secrets: tuple[str, ...]
    body: bytes


def _timeout() -> float:
    return float(settings.WEBHOOK_TIMEOUT_SECONDS)


def _concurrency() -> int:
    return max(1, int(settings.WEBHOOK_SEND_CONCURRENCY))


def _sendable(now: datetime) -> Q:
    return (
        Q(status__in=OPEN_DELIVERY_STATUSES, endpoint__is_enabled=True)
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(milliseconds=500)))
    )


LOST_WORKER_ERROR = (
    "worker lost before recording the outcome (lease expired); the endpoint may have received it: "
    "the re-send carries the same webhook-id"
)


@transaction.atomic
def webhook_deliveries_claim(
    *, delivery_ids: Sequence[uuid.UUID], claim_token: uuid.UUID, now: datetime, allow_disabled: bool = False
) -> list[ClaimedDelivery]:
    """Lock and lease the sendable deliveries among `delivery_ids`; read their bodies and secrets."""
    sendable = _sendable(now)
    if allow_disabled:  # a test send goes to a disabled endpoint too (to check it before enabling)
        sendable = Q(status__in=OPEN_DELIVERY_STATUSES) & (
            Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
        )
    rows = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("endpoint", "event")
        .filter(sendable, id__in=list(delivery_ids))
        .order_by("created_at")
    )
    if not rows:
        return []
    lease_until = now + timedelta(seconds=2 * _timeout() * -(-len(rows) // _concurrency())) + LEASE_MARGIN
    tenant = connection.schema_name
    claimed: list[ClaimedDelivery] = []
    lost: list[WebhookAttempt] = []
    for row in rows:
        if row.claimed_until is not None:
            lost.append(
                WebhookAttempt(
                    delivery=row,
                    number=row.attempts,
                    attempted_at=row.claimed_until,
                    latency_ms=0,
                    outcome=WebhookAttempt.Outcome.RETRY,
                    error=LOST_WORKER_ERROR,
                )
            )
            row.last_error = LOST_WORKER_ERROR
        max_attempts = 1 if row.is_test else policy.MAX_ATTEMPTS
        if row.attempts - row.attempt_base >= max_attempts:
            _mark_dead(row, f"max attempts ({max_attempts}) reached: {row.last_error}")
            row.save()
            continue
        row.attempts += 1
        secret, also = signing_secrets(row.endpoint, now)
        claimed.append(
            ClaimedDelivery(
                delivery_id=row.id,
                endpoint_id=row.endpoint_id,
                is_test=row.is_test,
                attempt_number=row.attempts,
                attempts_used=row.attempts - row.attempt_base,
                url=row.endpoint.url,
                secret=secret,
                also_secrets=also,
                body=event_body(row.event, tenant=tenant),
            )
        )
    if lost:
        WebhookAttempt.objects.bulk_create(lost, ignore_conflicts=True)
        WebhookDelivery.objects.filter(
            id__in=[a.delivery_id for a in lost], status__in=OPEN_DELIVERY_STATUSES
        ).update(last_error=LOST_WORKER_ERROR)
    # One UPDATE for every claimed row (they share the lease and the token).
    if claimed:
        WebhookDelivery.objects.filter(id__in=[c.delivery_id for c in claimed]).update(
            attempts=F("attempts") + 1,
            status=WebhookDelivery.Status.SENDING,
            claimed_until=lease_until,
            claim_token=claim_token,
            next_attempt_at=None,
            updated_at=now,
        )
    return claimed


def _mark_dead(row: WebhookDelivery, error: str) -> None:
    row.status = WebhookDelivery.Status.DEAD
    row.last_error = excerpt(error)
    row.next_attempt_at = None
    row.claimed_until = None
    row.claim_token = None


def _submit(claimed: Sequence[ClaimedDelivery]) -> list[client.SubmissionResponse]:
    requests = [
        client.SubmissionRequest(
            url=c.url,
            body=c.body,
            headers=signed_headers(
                secret=c.secret, msg_id=str(c.delivery_id), body=c.body, also_secrets=c.also_secrets
            ),
            timeout_seconds=_timeout(),
        )
        for c in claimed
    ]
    return client.submit_many(
        requests, concurrency=_concurrency(), allow_private=settings.WEBHOOK_URL_ALLOW_PRIVATE
    )


@transaction.atomic
def webhook_deliveries_record(
    *,
    outcomes: Sequence[tuple[ClaimedDelivery, client.SubmissionResponse]],
    claim_token: uuid.UUID,
    now: datetime,
    rng: random.Random | None = None,
) -> BatchResult:
    """Write each attempt and the delivery's new state where our claim holds; track endpoint health."""
    result = BatchResult()
    rows = {
        row.id: row
        for row in WebhookDelivery.objects.select_for_update().filter(
            id__in=[c.delivery_id for c, _ in outcomes], claim_token=claim_token
        )
    }
    disabled = set(
        WebhookEndpoint.objects.filter(
            id__in={c.endpoint_id for c, _ in outcomes}, is_enabled=False
        ).values_list("id", flat=True)
    )
    attempts: list[WebhookAttempt] = []
    changed: list[WebhookDelivery] = []
    succeeded: set[int] = set()
    failed: set[int] = set()
    for claimed, response in outcomes:
        row = rows.get(claimed.delivery_id)
        if row is None:
            result.lost += 1
            continue
        decision = policy.classify(
            response,
            attempts_used=claimed.attempts_used,
            max_attempts=1 if claimed.is_test else policy.MAX_ATTEMPTS,
            now=now,
            rng=rng,
        )
        if decision.outcome == policy.RETRY and claimed.endpoint_id in disabled:
            decision = policy.Decision(policy.DEAD, excerpt(f"endpoint disabled meanwhile: {decision.error}"))
        attempts.append(
            WebhookAttempt(
                delivery=row,
                number=claimed.attempt_number,
                attempted_at=now - timedelta(milliseconds=response.latency_ms),
                status_code=response.status_code,
                latency_ms=response.latency_ms,
                outcome=decision.outcome,
                error=decision.error,
            )
        )
        row.last_status_code = response.status_code
        row.claimed_until = None
        row.claim_token = None
        if decision.outcome == policy.SENT:
            row.status = WebhookDelivery.Status.SENT
            row.sent_at = now
            row.next_attempt_at = None
            row.last_error = ""
            result.sent += 1
            if not claimed.is_test:
                succeeded.add(claimed.endpoint_id)
        elif decision.outcome == policy.RETRY:
            row.status = WebhookDelivery.Status.FAILED
            row.next_attempt_at = now + timedelta(seconds=decision.retry_in_seconds or 0)
            row.last_error = decision.error
            result.retrying += 1
            result.retry_soon.append((str(row.id), decision.retry_in_seconds or 0.0))
            failed.add(claimed.endpoint_id)
        else:
            _mark_dead(row, decision.error)
            result.dead += 1
            if not claimed.is_test:
                failed.add(claimed.endpoint_id)
        changed.append(row)
    WebhookAttempt.objects.bulk_create(attempts)
    _update_grouped(changed, now=now)
    if succeeded:
        WebhookEndpoint.objects.filter(id__in=succeeded, failing_since__isnull=False).update(
            failing_since=None
        )
    failing_only = failed - succeeded
    if failing_only:
        WebhookEndpoint.objects.filter(id__in=failing_only, failing_since__isnull=True).update(
            failing_since=now
        )
        webhook_endpoints_disable_failing(now=now, endpoint_ids=failing_only)
    return result


_RECORDED_FIELDS = (
    "status",
    "sent_at",
    "next_attempt_at",
    "last_error",
    "last_status_code",
    "claimed_until",
    "claim_token",
)


def _update_grouped(rows: Sequence[WebhookDelivery], *, now: datetime) -> None:
    """One UPDATE per distinct set of recorded values: a chunk that went well is one statement."""
    groups: dict[tuple, list[uuid.UUID]] = {}
    for row in rows:
        groups.setdefault(tuple(getattr(row, name) for name in _RECORDED_FIELDS), []).append(row.id)
    for values, ids in groups.items():
        WebhookDelivery.objects.filter(id__in=ids).update(
            **dict(zip(_RECORDED_FIELDS, values, strict=True)), updated_at=now
        )


def _open_deliveries_dead(*, endpoint_id: int, error: str, now: datetime) -> int:
    """A disabled endpoint keeps no open delivery (nothing would send it, and its retry times would
    keep the brand awake): they become dead letters, replayable once it is enabled again. One in
    flight under a live lease is left to its sender, whose recording makes it dead."""
    return (
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status__in=OPEN_DELIVERY_STATUSES)
        .exclude(status=WebhookDelivery.Status.SENDING, claimed_until__gt=now)
        .update(
            status=WebhookDelivery.Status.DEAD,
            next_attempt_at=None,
            claimed_until=None,
            claim_token=None,
            last_error=error,
            updated_at=now,
        )
    )


def webhook_endpoints_disable_failing(
    *, now: datetime | None = None, endpoint_ids: Iterable[int] | None = None
) -> int:
    """Disable the enabled endpoints failing for 5 days; their open deliveries become dead (replayable)."""
    now = now or timezone.now()
    failing = WebhookEndpoint.objects.filter(
        is_enabled=True, failing_since__lte=now - timedelta(seconds=policy.DISABLE_AFTER_FAILING_SECONDS)
    )
    if endpoint_ids is not None:
        failing = failing.filter(id__in=list(endpoint_ids))
    disabled = 0
    with transaction.atomic():
        for endpoint in failing.select_for_update(skip_locked=True):
            before = values_of(endpoint, AUDITED_FIELDS)
            endpoint.is_enabled = False
            endpoint.disabled_reason = WebhookEndpoint.DisabledReason.FAILING
            endpoint.disabled_at = now
            endpoint.save(update_fields=["is_enabled", "disabled_reason", "disabled_at", "updated_at"])
            _open_deliveries_dead(endpoint_id=endpoint.pk, error=DISABLED_ERROR, now=now)
            audit_record(
                actor=SYSTEM_ACTOR,
                action="webhook_endpoint.disabled",
                obj_or_type=endpoint,
                changes=changes_between(before, values_of(endpoint, AUDITED_FIELDS)),
            )
            logger.warning(
                "webhook endpoint disabled after failing for 5 days",
                extra={"endpoint_id": endpoint.pk, "failing_since": endpoint.failing_since.isoformat()},
            )
            disabled += 1
        if disabled:
            events.subscriptions_changed()
            transaction.on_commit(events.subscriptions_changed)
    return disabled


def webhook_deliveries_send(
    *, delivery_ids: Iterable[uuid.UUID | str], rng: random.Random | None = None, allow_disabled: bool = False
) -> BatchResult:
    """Claim, send and record deliveries, a chunk at a time. Safe to run twice, or at once."""
    ids = _uuids(delivery_ids)
    total = BatchResult()
    for start in range(0, len(ids), SEND_CHUNK):
        token = uuid.uuid4()
        claimed = webhook_deliveries_claim(
            delivery_ids=ids[start : start + SEND_CHUNK],
            claim_token=token,
            now=timezone.now(),
            allow_disabled=allow_disabled,
        )
        total.claimed += len(claimed)
        if not claimed:
            continue
        responses = _submit(claimed)
        total.merge(
            webhook_deliveries_record(
                outcomes=list(zip(claimed, responses, strict=True)),
                claim_token=token,
                now=timezone.now(),
                rng=rng,
            )
        )
    return total


def _uuids(values: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    ids = []
    for value in values:
        try:
            ids.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            logger.warning("ignoring a malformed delivery id", extra={"delivery_id": str(value)[:64]})
    return ids


def webhook_due_delivery_ids(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[uuid.UUID]:
    """Retries that are due, leases that expired, queued deliveries whose message was lost."""
    now = now or timezone.now()
    due = (
        Q(status=WebhookDelivery.Status.FAILED, next_attempt_at__lte=now)
        | Q(status=WebhookDelivery.Status.SENDING, claimed_until__lte=now)
        | Q(status=WebhookDelivery.Status.QUEUED, updated_at__lte=now - STALE_QUEUED_AFTER)
    )
    return list(
        WebhookDelivery.objects.filter(due, endpoint__is_enabled=True)
        .order_by("next_attempt_at", "created_at")
        .values_list("id", flat=True)[:limit]
    )


def webhook_fan_out_and_send(*, older_than: timedelta | None = None) -> BatchResult:
    """The fan-out task: deliveries for the pending events, sent at once (until none is pending)."""
    total = BatchResult()
    while True:
        claimed, created = _fan_out_batch(limit=FAN_OUT_BATCH, older_than=older_than)
        if created:
            total.merge(webhook_deliveries_send(delivery_ids=created))
        if claimed < FAN_OUT_BATCH:
            return total


def webhook_sweep() -> BatchResult:
    """The maintenance tick's job: lost fan-outs, due retries, lost leases; disable 5-day failures;
    once an hour, the history purge."""
    total = webhook_fan_out_and_send(older_than=STALE_EVENT_AFTER)
    webhook_endpoints_disable_failing()
    total.merge(webhook_deliveries_send(delivery_ids=webhook_due_delivery_ids()))
    if cache.add(PURGE_LOCK_KEY, 1, timeout=PURGE_EVERY_SECONDS):  # tenant-prefixed key
        webhook_history_purge()
    return total


PURGE_LOCK_KEY = "webhooks:history-purge"
PURGE_EVERY_SECONDS = 3600
PURGE_CHUNK = 5000


def webhook_history_purge(*, now: datetime | None = None, chunk: int = PURGE_CHUNK) -> int:
    """Delete settled deliveries (sent, dead; their attempts with them) older than WEBHOOK_HISTORY_DAYS,
    then fanned-out events that old with no delivery left; in chunks, each its own short transaction."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_HISTORY_DAYS)
    deleted = 0
    while True:
        ids = list(
            WebhookDelivery.objects.filter(
                created_at__lt=cutoff, status__in=[WebhookDelivery.Status.SENT, WebhookDelivery.Status.DEAD]
            ).values_list("id", flat=True)[:chunk]
        )
        if not ids:
            break
        with transaction.atomic():
            WebhookAttempt.objects.filter(delivery_id__in=ids).delete()
            deleted += WebhookDelivery.objects.filter(id__in=ids).delete()[0]
    while True:
        event_ids = list(
            DomainEvent.objects.filter(
                occurred_at__lt=cutoff, fanned_out_at__isnull=False, webhook_deliveries=None
            ).values_list("id", flat=True)[:chunk]
        )
        if not event_ids:
            break
        DomainEvent.objects.filter(id__in=event_ids).delete()
    return deleted


# --------------------------------------------------------------------------- test send, replay


@dataclass(frozen=True)
class TestSendResult:
    delivery: WebhookDelivery
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str


def webhook_endpoint_test(*, endpoint_id: int, actor: str) -> TestSendResult:
    """Send a `webhook.test` to the endpoint now (one attempt, signed as any delivery); say how it went.

    The attempt is recorded as a delivery (listed with the others) and never counts as the endpoint
    failing: a test of a broken endpoint neither disables it nor clears its streak.
    """
    with transaction.atomic():
        endpoint = _lock_endpoint(endpoint_id)
        now = timezone.now()
        event = DomainEvent.objects.create(
            event_type=EventType.WEBHOOK_TEST,
            data={"endpoint_id": endpoint.pk, "message": "A test event from the campaign platform."},
            occurred_at=now,
            fanned_out_at=now,
        )
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event=event, event_type=EventType.WEBHOOK_TEST, is_test=True
        )
        audit_record(
            actor=actor,
            action="webhook_endpoint.tested",
            obj_or_type=endpoint,
            changes={"test_delivery": {"before": None, "after": str(delivery.id)}},
        )
    token = uuid.uuid4()
    claimed = webhook_deliveries_claim(
        delivery_ids=[delivery.id], claim_token=token, now=timezone.now(), allow_disabled=True
    )
    if not claimed:  # cannot happen (a fresh delivery, not yet due for any sweep): say so, never 500
        raise ConflictError("The test delivery could not be claimed; try again.", code="test_not_sent")
    response = _submit(claimed)[0]
    webhook_deliveries_record(outcomes=[(claimed[0], response)], claim_token=token, now=timezone.now())
    delivery.refresh_from_db()
    return TestSendResult(
        delivery=delivery,
        ok=is_success_response(response),
        status_code=response.status_code,
        latency_ms=response.latency_ms,
        error="" if is_success_response(response) else describe_response(response),
    )


REPLAY_AUDITED_FIELDS = ("status", "replay_count")


@transaction.atomic
def webhook_delivery_replay(*, delivery_id: Any, actor: str) -> WebhookDelivery:
    """A sent or dead delivery → queued again (same `webhook-id`, a fresh attempt budget), sent soon.

    Open deliveries (queued, sending, failed: still being delivered) → 409; an endpoint that is
    disabled → 409 (enable it first).
    """
    try:
        row = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .get(pk=uuid.UUID(str(delivery_id)))
        )
    except (WebhookDelivery.DoesNotExist, ValueError, TypeError):
        raise NotFoundError("No such webhook delivery.") from None
    if row.status not in (WebhookDelivery.Status.SENT, WebhookDelivery.Status.DEAD):
        raise ConflictError(
            f"Only sent or dead deliveries can be replayed; this one is {row.status}.",
            code="delivery_not_final",
        )
    if not row.endpoint.is_enabled:
        raise ConflictError("The endpoint is disabled: enable it before replaying.", code="endpoint_disabled")
    before = values_of(row, REPLAY_AUDITED_FIELDS)
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=row.pk).update(
        status=WebhookDelivery.Status.QUEUED,
        attempt_base=F("attempts"),
        next_attempt_at=None,
        claimed_until=None,
        claim_token=None,
        replay_count=F("replay_count") + 1,
        replayed_at=now,
        updated_at=now,
    )
    row.refresh_from_db()
    outbox_enqueue(task_name=task_names.SEND_WEBHOOK_DELIVERIES, args=[[str(row.id)]])
    audit_record(
        actor=actor,
        action="webhook_delivery.replayed",
        obj_or_type=row,
        changes=changes_between(before, values_of(row, REPLAY_AUDITED_FIELDS)),
    )
    return row
