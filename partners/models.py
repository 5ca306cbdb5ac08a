"""Reward partners and the dispatch of eligible purchases to them (awards and tokens: issue 5)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Partner(models.Model):
    """A reward partner: where eligible purchases are sent and how they are signed (Standard Webhooks)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    submission_url = models.URLField(max_length=500)
    auth_url = models.URLField(max_length=500)
    # "whsec_<base64>": signs dispatches, verifies award webhooks, keys participation JWTs.
    secret = models.CharField(max_length=200)
    # Rotation: the previous secret is still accepted on incoming webhooks until this time.
    previous_secret = models.CharField(max_length=200, blank=True, default="")
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=10)
    max_attempts = models.PositiveIntegerField(default=8)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="partner_max_attempts_positive"),
            models.CheckConstraint(
                condition=Q(timeout_seconds__gte=1) & Q(timeout_seconds__lte=120),
                name="partner_timeout_range",
            ),
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"),  # noqa: S106 - a prefix, not a password
                name="partner_secret_format",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class Dispatch(models.Model):
    """One eligible (purchase, campaign) pair, sent exactly once to the campaign's partner.

    The id is a UUID: it is the Standard Webhooks `webhook-id` and the
    `Idempotency-Key`, so it must be unique across brands, not just in one schema.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        RETRYING = "retrying"
        DEAD = "dead"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes for these two: `dispatch_unique_pair` (purchase, campaign) and
    # `dispatch_campaign_status_idx` (campaign, status) lead with them (ADR 0004, "Performance").
    purchase = models.ForeignKey(
        "purchases.Purchase", on_delete=models.CASCADE, related_name="dispatches", db_index=False
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="dispatches", db_index=False
    )
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="dispatches")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Long back-off lives here, swept by beat, never as a Celery countdown (broker visibility timeout).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The claim lease (docs/adr/0006-partner-dispatch.md): a sender owns the row until
    # `claimed_until`; its `claim_token` fences the recording of the outcome.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    # Replay gives a dead dispatch a fresh budget of the partner's max_attempts: attempts made
    # before the latest replay are `attempt_base` (attempt numbers keep counting up for the audit).
    # db_default too: the evaluation hot path inserts dispatches in raw SQL (purchases/dispatching.py).
    attempt_base = models.PositiveIntegerField(default=0, db_default=0)
    replay_count = models.PositiveIntegerField(default=0, db_default=0)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["purchase", "campaign"], name="dispatch_unique_pair"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sent", "retrying", "dead"]), name="dispatch_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="dispatch_due_idx"),
            models.Index(fields=["campaign", "status"], name="dispatch_campaign_status_idx"),
        ]

    def __str__(self) -> str:
        return f"dispatch {self.id} ({self.status})"


class DispatchAttempt(models.Model):
    """Audit row of one HTTP attempt of a dispatch."""

    class Outcome(models.TextChoices):
        SENT = "sent"
        RETRY = "retry"
        DEAD = "dead"

    dispatch = models.ForeignKey(Dispatch, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # An excerpt only (capped): partner bodies can be huge or hostile.
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["dispatch", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dispatch", "number"], name="dispatch_attempt_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.dispatch_id} #{self.number}: {self.outcome}"


class ParticipationToken(models.Model):
    """Audit row of one participation JWT issued to a customer (SPEC §6): who, for what, until when."""

    jti = models.CharField(max_length=32, unique=True)
    customer_id = models.CharField(max_length=200)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="participation_tokens"
    )
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="participation_tokens")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["customer_id", "issued_at"], name="ptoken_customer_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("issued_at")), name="ptoken_expires_after_issue"
            ),
        ]

    def __str__(self) -> str:
        return f"token {self.jti} for {self.customer_id}"


class Award(models.Model):
    """What a partner told us a customer won (SPEC §7), received through the signed award webhook.

    `award_id` is the partner's id (unique per partner); `webhook_id` is the
    Standard Webhooks message id of the delivery that created it (unique per
    partner), so a replayed delivery or a re-sent award never creates a second row.
    """

    class RewardType(models.TextChoices):
        VOUCHER = "voucher"
        SPECIAL_OFFER = "special_offer"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="awards")
    award_id = models.CharField(max_length=200)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="awards")
    customer_id = models.CharField(max_length=200)
    reward_type = models.CharField(max_length=20, choices=RewardType.choices)
    value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    voucher_code = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(max_length=1000, blank=True, default="")
    webhook_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "award_id"], name="award_unique_partner_award_id"),
            models.UniqueConstraint(fields=["partner", "webhook_id"], name="award_unique_partner_webhook_id"),
            models.CheckConstraint(
                condition=Q(reward_type__in=["voucher", "special_offer"]), name="award_reward_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0), name="award_value_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(currency="") | Q(currency__regex=r"^[A-Z]{3}$"), name="award_currency_format"
            ),
        ]
        indexes = [models.Index(fields=["customer_id", "-received_at"], name="award_customer_idx")]

    def __str__(self) -> str:
        return f"award {self.award_id} ({self.partner_id}) for {self.customer_id}"
