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
