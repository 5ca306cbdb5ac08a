"""Alarm rules (edited by operators in the platform admin) and the alarms they raised (public schema)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class AlarmRule(models.Model):
    class Kind(models.TextChoices):
        DEAD_LETTERS = "dead_letters", "Dead-letter depth > threshold (dispatches)"
        FAILURE_RATE = "failure_rate", "Dispatch failure rate > threshold % over the window"
        BACKLOG_AGE = "backlog_age", "Oldest pending/retrying dispatch older than threshold seconds"
        OUTBOX_LAG = "outbox_lag", "Oldest unrelayed outbox message older than threshold seconds"
        PARTNER_FAILURES = "partner_failures", "A partner's consecutive failed attempts ≥ threshold"
        WEBHOOK_ENDPOINT_DISABLED = (
            "webhook_endpoint_disabled",
            "Outgoing webhook endpoints disabled after failing for 5 days > threshold",
        )
        BUDGET_THRESHOLD = "budget_threshold", "A live campaign's budget used ≥ threshold % (SPEC §13)"
        CONVERSION_DROP = (
            "conversion_drop",
            "A running campaign's conversion rate over the window < threshold × its first week's",
        )

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    threshold = models.DecimalField(max_digits=14, decimal_places=2)
    window_minutes = models.PositiveIntegerField(
        default=15,
        help_text="failure_rate: the look-back window of attempts. conversion_drop: the recent window "
        "compared with the campaign's first week (whole days, at least one).",
    )
    min_attempts = models.PositiveIntegerField(
        default=10,
        help_text="failure_rate: fewer attempts than this in the window never fire (noise). "
        "conversion_drop: fewer clicks than this in either period never fire.",
    )
    brand = models.ForeignKey(
        "tenants.Brand",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alarm_rules",
        help_text="Empty: the rule applies to every brand.",
    )
    is_enabled = models.BooleanField(default=True)
    notify_email = models.BooleanField(
        default=True, help_text="Mail ALARM_EMAIL_TO when it fires and clears."
    )
    notify_webhook = models.BooleanField(default=True, help_text="POST to ALARM_WEBHOOK_URL, signed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=0),
                name="alarm_rule_threshold_not_negative",
                violation_error_message="Threshold cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(window_minutes__gte=1),
                name="alarm_rule_window_positive",
                violation_error_message="Window (minutes) must be at least 1.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Alarm(models.Model):
    """One firing of a rule for one brand (and partner, for partner rules), open until it clears.

    At most one open alarm per (rule, brand, partner): a rule that stays firing keeps its row and
    notifies nobody again. The four `*_notified_*` columns record each delivery so the next tick
    retries only what failed (an SMTP or webhook outage never drops, nor repeats, a notification).
    """

    rule = models.ForeignKey(AlarmRule, on_delete=models.CASCADE, related_name="alarms")
    brand = models.ForeignKey("tenants.Brand", on_delete=models.CASCADE, related_name="alarms")
    partner_slug = models.CharField(max_length=100, blank=True, default="")
    fired_at = models.DateTimeField()
    fired_value = models.DecimalField(max_digits=20, decimal_places=4)
    last_value = models.DecimalField(max_digits=20, decimal_places=4)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    fire_notified_email_at = models.DateTimeField(null=True, blank=True)
    fire_notified_webhook_at = models.DateTimeField(null=True, blank=True)
    clear_notified_email_at = models.DateTimeField(null=True, blank=True)
    clear_notified_webhook_at = models.DateTimeField(null=True, blank=True)
    last_notify_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "brand", "partner_slug"],
                condition=Q(cleared_at__isnull=True),
                name="alarm_one_open_per_rule_brand_partner",
                violation_error_message="This rule already has an open alarm for this brand and partner.",
            ),
        ]
        indexes = [models.Index(fields=["brand", "cleared_at"], name="alarm_brand_open_idx")]

    def __str__(self) -> str:
        target = f"{self.brand_id}/{self.partner_slug}" if self.partner_slug else str(self.brand_id)
        return f"{self.rule} on {target} ({'firing' if self.is_firing else 'cleared'})"

    @property
    def is_firing(self) -> bool:
        return self.cleared_at is None


class PlatformDashboard(models.Model):
    """No table: the platform admin's entry for the cross-brand dashboard (monitoring/alarms/admin.py)."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "platform dashboard"
        verbose_name_plural = "platform dashboard"

    def __str__(self) -> str:
        return "platform dashboard"
