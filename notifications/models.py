"""Push notifications of awards to customers, and the device tokens FCM delivers to."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from core.delivery import DeliveryStatus


class Notification(models.Model):
    """One push notification per award (SPEC §8), in the delivery vocabulary of SPEC §14.

    Status (`core.delivery.DeliveryStatus`): `queued` (not tried yet, or replayed),
    `sending` (claimed: an attempt is in flight until `claimed_until`), `sent` (the
    provider accepted it), `failed` (this attempt failed, another one is scheduled at
    `next_attempt_at`), `dead` (no more attempts: a permanent error, or
    NOTIFICATION_MAX_ATTEMPTS reached; replayable from the admin). Push does not
    produce `delivered`, `skipped` or `deferred` yet; the column accepts them.
    """

    Status = DeliveryStatus

    # A UUID: it is the push gateway's `webhook-id` / `Idempotency-Key`, unique across brands.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer_id = models.CharField(max_length=200, db_index=True)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="notifications")
    award = models.OneToOneField("awards.Award", on_delete=models.CASCADE, related_name="notification")
    title = models.CharField(max_length=255, blank=True, default="")
    body = models.TextField(blank=True, default="")
    provider = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    # Long back-off lives here, swept by beat, never as a Celery countdown.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=500, blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # fcm: the device tokens that already accepted it, so a retry does not notify them twice.
    delivered_to = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The claim lease (notifications/services.py): a sender owns the row until `claimed_until`;
    # its `claim_token` fences the recording of the outcome.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("replay_notification", "Can replay dead notifications")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values),
                name="notification_status_valid",
                violation_error_message="Status is not one of the delivery statuses.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx"),
            models.Index(fields=["campaign", "status"], name="notification_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"notification {self.pk} ({self.status})"


class DeviceToken(models.Model):
    """An FCM registration token of one of a customer's devices (registered by the mobile backend)."""

    class Platform(models.TextChoices):
        ANDROID = "android"
        IOS = "ios"
        WEB = "web"

    customer_id = models.CharField(max_length=200, db_index=True)
    token = models.CharField(max_length=512, unique=True)
    platform = models.CharField(max_length=10, choices=Platform.choices, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer_id", "-updated_at"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.token[:12]}…"
