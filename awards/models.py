"""Awards: what partners tell us customers won (SPEC §7)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Award(models.Model):
    """What a partner told us a customer won (SPEC §7), received through the signed award webhook.

    `award_id` is the partner's id (unique per partner); `webhook_id` is the
    Standard Webhooks message id of the delivery that created it (unique per
    partner), so a replayed delivery or a re-sent award never creates a second row.
    """

    class RewardType(models.TextChoices):
        VOUCHER = "voucher"
        SPECIAL_OFFER = "special_offer"

    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="awards")
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
        db_table = "partners_award"  # the table predates the app (ADR 0011)
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "award_id"],
                name="award_unique_partner_award_id",
                violation_error_message="This partner already sent an award with this award id.",
            ),
            models.UniqueConstraint(
                fields=["partner", "webhook_id"],
                name="award_unique_partner_webhook_id",
                violation_error_message="This partner already sent a webhook with this id.",
            ),
            models.CheckConstraint(
                condition=Q(reward_type__in=["voucher", "special_offer"]),
                name="award_reward_type_valid",
                violation_error_message="Reward type must be voucher or special offer.",
            ),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0),
                name="award_value_not_negative",
                violation_error_message="Value cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(currency="") | Q(currency__regex=r"^[A-Z]{3}$"),
                name="award_currency_format",
                violation_error_message="Currency must be a three-letter ISO 4217 code, like EUR.",
            ),
        ]
        indexes = [models.Index(fields=["customer_id", "-received_at"], name="award_customer_idx")]

    def __str__(self) -> str:
        return f"award {self.award_id} ({self.partner_id}) for {self.customer_id}"
