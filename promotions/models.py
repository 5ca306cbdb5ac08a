"""Promo codes and their redemptions (SPEC §12): limits held by the database, never read-then-write."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

# The unambiguous upper-case alphabet of generated codes: no 0 O 1 I L.
DEFAULT_CHARSET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
DEFAULT_PATTERN = "########"


class Job(models.Model):
    """A long-running piece of work a client polls at `GET /jobs/{id}/` (code generation)."""

    class Kind(models.TextChoices):
        GENERATE_CODES = "generate_codes", "Generate codes"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="job_status_valid",
                violation_error_message="Status is not one of the job statuses.",
            ),
            models.CheckConstraint(
                condition=Q(done__lte=F("total")),
                name="job_done_within_total",
                violation_error_message="A job cannot have done more than its total.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status}, {self.progress} %)"

    @property
    def progress(self) -> int:
        """Percent done, 0-100."""
        if self.status == self.Status.DONE:
            return 100
        return (self.done * 100 // self.total) if self.total else 0


class CodeBatch(models.Model):
    """A set of generated codes sharing their limits, validity and benefit."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="code_batches")
    count = models.PositiveIntegerField(help_text="How many codes to generate.")
    pattern = models.CharField(
        max_length=64, default=DEFAULT_PATTERN, help_text="Each # becomes a character of the charset."
    )
    charset = models.CharField(max_length=100, default=DEFAULT_CHARSET)
    prefix = models.CharField(max_length=32, blank=True, default="")
    postfix = models.CharField(max_length=32, blank=True, default="")
    max_redemptions = models.PositiveIntegerField(
        "max redemptions", null=True, blank=True, default=1, help_text="Uses per code; empty = unlimited."
    )
    per_customer_limit = models.PositiveIntegerField(
        "per-customer limit",
        null=True,
        blank=True,
        help_text="Uses per customer per code; empty = unlimited.",
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    # {"type": "percent"|"fixed"|"free_item", "value", "max_discount"?, "sku"?}
    benefit = models.JSONField(default=dict)
    min_order_value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    job = models.OneToOneField(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="batch")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "code batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(count__gte=1),
                name="code_batch_count_at_least_1",
                violation_error_message="Count must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(max_redemptions__gte=1),
                name="code_batch_max_redemptions_at_least_1",
                violation_error_message="Max redemptions must be at least 1 (or empty for unlimited).",
            ),
            models.CheckConstraint(
                condition=Q(per_customer_limit__isnull=True) | Q(per_customer_limit__gte=1),
                name="code_batch_per_customer_at_least_1",
                violation_error_message="Per-customer limit must be at least 1 (or empty for unlimited).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}{self.pattern}{self.postfix} × {self.count}"


class PromoCode(models.Model):
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="promo_codes")
    batch = models.ForeignKey(
        CodeBatch, on_delete=models.CASCADE, null=True, blank=True, related_name="codes"
    )
    code = models.CharField(max_length=128)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, default=1)
    per_customer_limit = models.PositiveIntegerField(null=True, blank=True)
    redeemed_count = models.PositiveIntegerField(default=0)
    reserved_count = models.PositiveIntegerField(default=0)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    benefit = models.JSONField(default=dict)
    min_order_value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    CODE_UNIQUE_CONSTRAINT = "promo_code_upper_code_unique"

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["campaign", "id"], name="promo_code_campaign_idx")]
        constraints = [
            # Matched case-insensitively: the one uniqueness check generation relies on.
            models.UniqueConstraint(
                Upper("code"),
                name="promo_code_upper_code_unique",
                violation_error_message="A promo code with this code (in any case) already exists.",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True)
                | Q(max_redemptions__gte=F("redeemed_count") + F("reserved_count")),
                name="promo_code_uses_within_max",
                violation_error_message="Redeemed and reserved uses cannot exceed max redemptions.",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(max_redemptions__gte=1),
                name="promo_code_max_redemptions_at_least_1",
                violation_error_message="Max redemptions must be at least 1 (or empty for unlimited).",
            ),
            models.CheckConstraint(
                condition=Q(per_customer_limit__isnull=True) | Q(per_customer_limit__gte=1),
                name="promo_code_per_customer_at_least_1",
                violation_error_message="Per-customer limit must be at least 1 (or empty for unlimited).",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CustomerCodeUsage(models.Model):
    """Uses of one code by one customer, for codes with a per-customer limit (one conditional upsert)."""

    code = models.ForeignKey(PromoCode, on_delete=models.CASCADE, related_name="customer_usages")
    customer_id = models.CharField(max_length=200)
    redeemed_count = models.PositiveIntegerField(default=0)
    reserved_count = models.PositiveIntegerField(default=0)
    # The code's per-customer limit when this row was last counted against.
    usage_limit = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "customer_id"],
                name="customer_code_usage_unique",
                violation_error_message="This customer already has a usage counter for this code.",
            ),
            models.CheckConstraint(
                condition=Q(usage_limit__gte=F("redeemed_count") + F("reserved_count")),
                name="customer_code_usage_within_limit",
                violation_error_message="A customer cannot use a code more often than its per-customer limit.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code_id}/{self.customer_id}"


class Redemption(models.Model):
    class Status(models.TextChoices):
        RESERVED = "reserved"
        COMMITTED = "committed"
        ROLLED_BACK = "rolled_back"
        EXPIRED = "expired"

    code = models.ForeignKey(PromoCode, on_delete=models.PROTECT, related_name="redemptions")
    customer_id = models.CharField(max_length=200)
    order_ref = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices)
    discount = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal(0))
    currency = models.CharField(max_length=3)
    order = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=200)
    body_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="reserved"), name="redemption_reserved_expiry_idx"
            ),
            models.Index(fields=["order_ref"], name="redemption_order_ref_idx"),
            # The analytics rollup reads the discounts committed since an hour (analytics/sources.py).
            models.Index(
                fields=["committed_at"], condition=Q(status="committed"), name="redemption_committed_at_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                name="redemption_idempotency_key_unique",
                violation_error_message="A redemption with this Idempotency-Key already exists.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["reserved", "committed", "rolled_back", "expired"]),
                name="redemption_status_valid",
                violation_error_message="Status is not one of the redemption statuses.",
            ),
            models.CheckConstraint(
                condition=~Q(status="reserved") | Q(expires_at__isnull=False),
                name="redemption_reserved_expires",
                violation_error_message="A reservation needs an expiry time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.customer_id} · {self.status}"
