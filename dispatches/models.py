"""Dispatches of eligible (purchase, campaign) pairs to the campaign's partner, and their attempts."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


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
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="dispatches")
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
    # db_default too: the evaluation hot path inserts dispatches in raw SQL (dispatches/claims.py).
    attempt_base = models.PositiveIntegerField(default=0, db_default=0)
    replay_count = models.PositiveIntegerField(default=0, db_default=0)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "partners_dispatch"  # the table predates the app (ADR 0011)
        verbose_name_plural = "dispatches"
        ordering = ["-created_at"]
        # The CRM editor's right to send dead letters again (ADR 0015); viewing needs only view_dispatch.
        permissions = [("replay_dispatch", "Can replay dead dispatches")]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase", "campaign"],
                name="dispatch_unique_pair",
                violation_error_message="This purchase was already dispatched for this campaign.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sent", "retrying", "dead"]),
                name="dispatch_status_valid",
                violation_error_message="Status must be pending, sent, retrying or dead.",
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
        db_table = "partners_dispatchattempt"
        ordering = ["dispatch", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["dispatch", "number"],
                name="dispatch_attempt_unique_number",
                violation_error_message="This dispatch already has an attempt with this number.",
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"


class Retraction(models.Model):
    """A signed `purchase.retracted` message to the partner: a sent reward whose purchase was refunded.

    It rides the dispatch machinery (SPEC §5 signing, retries, dead letters) with a row of its own, so
    a dispatch stays "the eligible pair, sent once" and its stats and API do not change (ADR 0025).
    The id is the message's `webhook-id` and `Idempotency-Key`. The body is built at each claim from
    the dispatch's purchase and the verdict stored here (no customer id is copied into this row: an
    erased customer's retraction carries the pseudonym, as the dispatch does).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        RETRYING = "retrying"
        DEAD = "dead"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dispatch = models.OneToOneField(Dispatch, on_delete=models.CASCADE, related_name="retraction")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="retractions")
    # The re-evaluation after the refund: why the pair is no longer eligible, and its value now.
    reason = models.CharField(max_length=40)
    eligible_value = models.DecimalField(max_digits=18, decimal_places=4)
    campaign_version = models.PositiveIntegerField()
    refunded_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Attempts made before the latest replay (the same fresh budget of max_attempts as dispatches).
    attempt_base = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sent", "retrying", "dead"]),
                name="retraction_status_valid",
                violation_error_message="Status must be pending, sent, retrying or dead.",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="retraction_due_idx")]

    def __str__(self) -> str:
        return f"retraction {self.id} ({self.status})"


class RetractionAttempt(models.Model):
    """Audit row of one HTTP attempt of a retraction (as `DispatchAttempt` is for a dispatch)."""

    retraction = models.ForeignKey(Retraction, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=DispatchAttempt.Outcome.choices)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["retraction", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["retraction", "number"],
                name="retraction_attempt_unique_number",
                violation_error_message="This retraction already has an attempt with this number.",
            ),
        ]

    def __str__(self) -> str:
        return f"retraction attempt {self.number}: {self.outcome}"
