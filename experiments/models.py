"""A/B experiments of a campaign (SPEC §16): variants, sticky assignments, exposures and their totals."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q


def _new_seed() -> str:
    return secrets.token_hex(8)


class Experiment(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        CONCLUDED = "concluded"

    class Metric(models.TextChoices):
        CONVERSION_RATE = "conversion_rate", "Conversion rate"
        CTR = "ctr", "Click-through rate"

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    primary_metric = models.CharField(max_length=20, choices=Metric.choices, default=Metric.CONVERSION_RATE)
    coverage = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal(1))],
        help_text="Share of the campaign's customers in the experiment (0–1); the others get the campaign as is.",
    )
    confidence = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.95"),
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("0.9999"))],
        help_text="A winner needs P(best) at least this and a p-value below 1 − this.",
    )
    min_sample_per_variant = models.PositiveIntegerField(
        "minimum sample per variant",
        default=1000,
        validators=[MinValueValidator(1)],
        help_text="No winner before every variant has this many exposed customers.",
    )
    seed = models.CharField(max_length=64, default=_new_seed, help_text="Hashed with the customer id.")
    bucket_version = models.PositiveIntegerField(
        default=1, help_text="Bump to re-randomise everyone on purpose (assignments are kept per version)."
    )
    winner = models.CharField(max_length=50, blank=True, default="")
    concluded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["running", "concluded"]),
                name="experiment_status_valid",
                violation_error_message="Status must be running or concluded.",
            ),
            models.CheckConstraint(
                condition=Q(primary_metric__in=["conversion_rate", "ctr"]),
                name="experiment_metric_valid",
                violation_error_message="Primary metric must be conversion_rate or ctr.",
            ),
            models.CheckConstraint(
                condition=Q(coverage__gt=0, coverage__lte=1),
                name="experiment_coverage_range",
                violation_error_message="Coverage must be more than 0 and at most 1.",
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=Decimal("0.5"), confidence__lt=1),
                name="experiment_confidence_range",
                violation_error_message="Confidence must be at least 0.5 and below 1.",
            ),
            models.CheckConstraint(
                condition=Q(min_sample_per_variant__gte=1),
                name="experiment_min_sample_positive",
                violation_error_message="Minimum sample per variant must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(status="running", concluded_at__isnull=True)
                | Q(status="concluded", concluded_at__isnull=False),
                name="experiment_concluded_iff_dated",
                violation_error_message="A concluded experiment has a conclusion date, a running one none.",
            ),
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(status="running"),
                name="experiment_one_running_per_campaign",
                violation_error_message="This campaign already has a running experiment.",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"experiment {self.pk} of campaign {self.campaign_id}"


class Variant(models.Model):
    """One arm. The first (lowest position) is the control. Blank overrides keep the campaign's own value."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=50, help_text="Short name clients see, like A or B.")
    position = models.PositiveSmallIntegerField(default=0)
    weight = models.PositiveIntegerField(default=1, help_text="Relative share of the traffic (any scale).")
    message_title = models.CharField(max_length=200, blank=True, default="")
    message_body = models.TextField(blank=True, default="")
    reward_type = models.CharField(
        max_length=20,
        blank=True,
        default="",
        choices=[("", "(campaign's)"), ("voucher", "Voucher"), ("special_offer", "Special offer")],
    )
    reward_value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    reward_description = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["experiment", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "key"],
                name="variant_unique_key",
                violation_error_message="This experiment already has a variant with this key.",
            ),
            models.CheckConstraint(
                condition=Q(weight__gte=1),
                name="variant_weight_positive",
                violation_error_message="Weight must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(reward_value__isnull=True) | Q(reward_value__gte=0),
                name="variant_reward_value_not_negative",
                violation_error_message="Reward value cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(reward_type__in=["", "voucher", "special_offer"]),
                name="variant_reward_type_valid",
                violation_error_message="Reward type must be voucher or special_offer.",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Assignment(models.Model):
    """The variant a customer got, persisted: sticky even when the weights change later."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    bucket_version = models.PositiveIntegerField()
    customer_id = models.CharField(max_length=200)
    variant = models.CharField(max_length=50)
    assigned_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "bucket_version", "customer_id"],
                name="assignment_unique_customer",
                violation_error_message="This customer already has a variant in this experiment.",
            )
        ]
        indexes = [models.Index(fields=["customer_id"], name="assignment_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.variant}"


class Exposure(models.Model):
    """A customer who was actually shown or sent their variant; first exposure, first click, first conversion."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="exposures")
    bucket_version = models.PositiveIntegerField()
    customer_id = models.CharField(max_length=200)
    variant = models.CharField(max_length=50)
    exposed_at = models.DateTimeField()
    clicked_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "bucket_version", "customer_id"],
                name="exposure_unique_customer",
                violation_error_message="This customer is already exposed in this experiment.",
            )
        ]
        indexes = [
            models.Index(
                fields=["customer_id"],
                condition=Q(converted_at__isnull=True),
                name="exposure_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} saw {self.variant}"


class VariantTotals(models.Model):
    """Exposed, clicking and converting customers of one variant: counters the refresh adds to.

    Each exposure is counted once when inserted, and its click and conversion once when first set, in
    the statement that sets them: results read these few rows, never the millions of exposures.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="totals")
    bucket_version = models.PositiveIntegerField()
    variant = models.CharField(max_length=50)
    exposures = models.PositiveBigIntegerField(default=0)
    clicks = models.PositiveBigIntegerField(default=0)
    conversions = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "variant totals"
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "bucket_version", "variant"],
                name="variant_totals_unique",
                violation_error_message="These totals already exist.",
            ),
            models.CheckConstraint(
                condition=Q(clicks__lte=F("exposures"), conversions__lte=F("exposures")),
                name="variant_totals_within_exposures",
                violation_error_message="Clicks and conversions cannot exceed exposures.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant}: {self.conversions}/{self.exposures}"
