"""Attributed conversions and the campaign rollups behind metrics and reports (SPEC §16, ADR 0024)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q


class Conversion(models.Model):
    """A purchase attributed to a campaign: a touch (message, view, click) within its window before it.

    Written by the hourly attribution (one statement per run, never a query per purchase); once per
    campaign and purchase — hence once per customer, campaign and purchase.
    """

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="conversions")
    purchase = models.ForeignKey(
        "purchases.Purchase", on_delete=models.CASCADE, related_name="conversions", db_constraint=False
    )
    customer_id = models.CharField(max_length=200)
    variant = models.CharField(max_length=50, blank=True, default="")
    purchased_at = models.DateTimeField()
    touched_at = models.DateTimeField(
        help_text="The last touch before the purchase (last-touch attribution)."
    )
    touch_kind = models.CharField(max_length=10)
    # The eligible value of the purchase for this campaign (0 when it was not eligible).
    revenue = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal(0))
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-purchased_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "purchase"],
                name="conversion_once_per_campaign_purchase",
                violation_error_message="This purchase is already a conversion of this campaign.",
            ),
            models.CheckConstraint(
                condition=Q(revenue__gte=0),
                name="conversion_revenue_not_negative",
                violation_error_message="Revenue cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(touched_at__lte=F("purchased_at")),
                name="conversion_touch_before_purchase",
                violation_error_message="The touch must come before the purchase.",
            ),
        ]
        indexes = [models.Index(fields=["purchased_at"], name="conversion_purchased_idx")]

    def __str__(self) -> str:
        return f"purchase {self.purchase_id} → campaign {self.campaign_id}"


class _RollupFigures(models.Model):
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=50, blank=True, default="")
    impressions = models.PositiveBigIntegerField(default=0)
    clicks = models.PositiveBigIntegerField(default=0)
    conversions = models.PositiveBigIntegerField(default=0)
    revenue = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(0))
    cost = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(0))

    class Meta:
        abstract = True


class CampaignHourlyFigures(_RollupFigures):
    """One campaign and variant ('' = no variant) for one UTC hour, recomputed from the raw rows."""

    hour = models.DateTimeField()
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "campaign hourly figures"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "hour", "variant"],
                name="analytics_hourly_unique",
                violation_error_message="These figures already exist for this campaign, hour and variant.",
            ),
            models.CheckConstraint(
                condition=Q(revenue__gte=0, cost__gte=0),
                name="analytics_hourly_money_not_negative",
                violation_error_message="Revenue and cost cannot be negative.",
            ),
        ]
        indexes = [models.Index(fields=["hour"], name="analytics_hourly_hour_idx")]

    def __str__(self) -> str:
        return f"campaign {self.campaign_id} {self.variant or '-'} @ {self.hour:%Y-%m-%d %H:00}"


class CampaignDailyFigures(_RollupFigures):
    """The hourly figures summed per UTC day: what metrics and reports read (365 rows a campaign-year)."""

    day = models.DateField()

    class Meta:
        # The admin lists it as the analytics page (analytics/admin.py), not as raw rows.
        verbose_name = "campaign analytics"
        verbose_name_plural = "campaign analytics"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "day", "variant"],
                name="analytics_daily_unique",
                violation_error_message="These figures already exist for this campaign, day and variant.",
            ),
            models.CheckConstraint(
                condition=Q(revenue__gte=0, cost__gte=0),
                name="analytics_daily_money_not_negative",
                violation_error_message="Revenue and cost cannot be negative.",
            ),
        ]
        indexes = [models.Index(fields=["day"], name="analytics_daily_day_idx")]

    def __str__(self) -> str:
        return f"campaign {self.campaign_id} {self.variant or '-'} on {self.day}"


class BudgetAllocation(models.Model):
    """A proposed split of a total spend across campaigns (SPEC §17), kept so it can be read and applied.

    Applying writes each line's spend budget through campaigns.budgets (its own audit rows); once only.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        APPLIED = "applied"

    total = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3)
    horizon_days = models.PositiveSmallIntegerField(
        default=30, help_text="The days the spend is planned over; forecasts are for this horizon."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    predicted_revenue = models.DecimalField(max_digits=20, decimal_places=4)
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_by = models.CharField(max_length=200, blank=True, default="")
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__gt=0),
                name="allocation_total_positive",
                violation_error_message="The total must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(horizon_days__gte=1, horizon_days__lte=366),
                name="allocation_horizon_range",
                violation_error_message="The horizon is 1 to 366 days.",
            ),
            models.CheckConstraint(
                condition=Q(status="proposed", applied_at__isnull=True)
                | Q(status="applied", applied_at__isnull=False),
                name="allocation_applied_iff_dated",
                violation_error_message="An applied allocation has an application date, a proposed one none.",
            ),
        ]

    def __str__(self) -> str:
        return f"allocation {self.pk}: {self.total} {self.currency} ({self.status})"


class BudgetAllocationLine(models.Model):
    """One campaign's share of an allocation, with the numbers behind it and the sentence that explains it."""

    allocation = models.ForeignKey(BudgetAllocation, on_delete=models.CASCADE, related_name="lines")
    # A draft campaign deleted later leaves its line (and name) as a record; applying then is a conflict.
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, related_name="allocation_lines"
    )
    campaign_name = models.CharField(max_length=200)
    min_spend = models.DecimalField(max_digits=18, decimal_places=4)
    max_spend = models.DecimalField(max_digits=18, decimal_places=4)
    current_limit = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The spend budget's limit when proposed.",
    )
    proposed = models.DecimalField(max_digits=18, decimal_places=4)
    predicted_revenue = models.DecimalField(max_digits=20, decimal_places=4)
    marginal_roas = models.DecimalField(max_digits=12, decimal_places=4)
    saturation_spend = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    confidence = models.CharField(max_length=10)
    method = models.CharField(max_length=30)
    rationale = models.TextField()

    class Meta:
        ordering = ["allocation_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["allocation", "campaign"],
                name="allocation_line_once_per_campaign",
                violation_error_message="A campaign appears once in an allocation.",
            ),
            models.CheckConstraint(
                condition=Q(min_spend__gte=0, min_spend__lte=F("proposed"), proposed__lte=F("max_spend")),
                name="allocation_line_within_bounds",
                violation_error_message="The proposed spend must lie within the line's bounds.",
            ),
            models.CheckConstraint(
                condition=Q(confidence__in=["high", "medium", "low"]),
                name="allocation_line_confidence_valid",
                violation_error_message="Confidence is high, medium or low.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_name}: {self.proposed}"
