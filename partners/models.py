"""Reward partners (their endpoints and secrets) and the participation tokens issued for them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Partner(models.Model):
    """A reward partner: where eligible purchases are sent and how they are signed (Standard Webhooks)."""

    # PostgreSQL's name of the unique constraint `unique=True` creates (services read it off errors).
    SLUG_UNIQUE_CONSTRAINT = "partners_partner_slug_key"

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
            models.CheckConstraint(
                condition=Q(max_attempts__gte=1),
                name="partner_max_attempts_positive",
                violation_error_message="Max attempts must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(timeout_seconds__gte=1) & Q(timeout_seconds__lte=120),
                name="partner_timeout_range",
                violation_error_message="Timeout must be between 1 and 120 seconds.",
            ),
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"),  # noqa: S106 - a prefix, not a password
                name="partner_secret_format",
                violation_error_message="Secret must start with whsec_.",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


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
                condition=Q(expires_at__gt=models.F("issued_at")),
                name="ptoken_expires_after_issue",
                violation_error_message="Expiry must be after the issue time.",
            ),
        ]

    def __str__(self) -> str:
        return f"token {self.jti} for {self.customer_id}"
