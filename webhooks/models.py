"""Outgoing webhook endpoints of a brand, the deliveries of events to them, and each attempt (SPEC §15)."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from core.delivery import DeliveryStatus


class WebhookEndpoint(models.Model):
    """Where the brand wants its events, which ones, and the `whsec_…` secret that signs them."""

    class DisabledReason(models.TextChoices):
        NONE = "", "enabled"
        MANUAL = "manual", "disabled by hand"
        FAILING = "failing", "disabled after failing for 5 days"

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True, default="")
    event_types = ArrayField(models.CharField(max_length=60), default=list)
    # "whsec_<base64>", as partner secrets (it must be readable to sign); shown once, never listed.
    secret = models.CharField(max_length=200)
    # Rotation: the previous secret signs too (a second signature) until this time.
    previous_secret = models.CharField(max_length=200, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(
        max_length=10, choices=DisabledReason.choices, blank=True, default=DisabledReason.NONE
    )
    # The first failed attempt since the last success: 5 days of failing disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"),  # noqa: S106 - a prefix, not a password
                name="webhook_endpoint_secret_format",
                violation_error_message="Secret must start with whsec_.",
            ),
            models.CheckConstraint(
                condition=Q(event_types__len__gte=1),
                name="webhook_endpoint_event_types_not_empty",
                violation_error_message="Choose at least one event type.",
            ),
            models.CheckConstraint(
                condition=Q(is_enabled=True, disabled_reason="")
                | Q(is_enabled=False) & ~Q(disabled_reason=""),
                name="webhook_endpoint_disabled_has_reason",
                violation_error_message="A disabled endpoint says why (manual or failing); an enabled one does not.",
            ),
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


OPEN_DELIVERY_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED)


class WebhookDelivery(models.Model):
    """One event to one endpoint, delivered at least once. Its id is the `webhook-id` of every attempt.

    Statuses (core.delivery.DeliveryStatus): queued → sending (claimed, leased) → sent, or failed
    (another attempt at `next_attempt_at`, on SPEC §15's schedule) → … → dead; sent/dead → queued by a replay.
    """

    class Status(models.TextChoices):
        QUEUED = DeliveryStatus.QUEUED.value
        SENDING = DeliveryStatus.SENDING.value
        SENT = DeliveryStatus.SENT.value
        FAILED = DeliveryStatus.FAILED.value
        DEAD = DeliveryStatus.DEAD.value

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event = models.ForeignKey(
        "outbox.DomainEvent", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event_type = models.CharField(max_length=60)
    # A `webhook.test` of POST /webhooks/{id}/test/: one attempt, not counted as the endpoint failing.
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    # A replay gives a fresh budget: attempts before the latest replay (numbers keep counting up).
    attempt_base = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        permissions = [("replay_webhookdelivery", "Can replay webhook deliveries")]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"],
                name="webhook_delivery_unique_endpoint_event",
                violation_error_message="This event was already delivered to this endpoint.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sending", "sent", "failed", "dead"]),
                name="webhook_delivery_status_valid",
                violation_error_message="Status must be queued, sending, sent, failed or dead.",
            ),
            models.CheckConstraint(
                condition=Q(attempt_base__lte=models.F("attempts")),
                name="webhook_delivery_attempt_base_le_attempts",
                violation_error_message="The replay base cannot exceed the attempts made.",
            ),
        ]
        indexes = [
            # Not partial: a partial index on `status IN (…)` reads back differently from a cloned
            # brand schema (tests/tenants/test_schema_template.py); dispatches do the same.
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint_idx"),
            models.Index(fields=["created_at"], name="webhook_delivery_created_idx"),  # the history purge
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → endpoint {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """Audit row of one HTTP attempt of a delivery."""

    class Outcome(models.TextChoices):
        SENT = "sent"
        RETRY = "retry"
        DEAD = "dead"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"],
                name="webhook_attempt_unique_number",
                violation_error_message="This delivery already has an attempt with this number.",
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"
