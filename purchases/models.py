"""Purchases sent by a brand's mobile backend and their evaluation against campaigns."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Purchase(models.Model):
    class Channel(models.TextChoices):
        IN_STORE = "in_store"
        ECOMMERCE = "ecommerce"

    # The sender's id: idempotency key of ingestion, unique per brand (schema). Unique and indexed
    # through Meta (constraint, index), not `unique=True` / `db_index=True`: those also build a
    # `varchar_pattern_ops` index for LIKE that nothing here uses (the admin searches `iexact`), and
    # every index costs each insert and each non-HOT update of the hottest table (ADR 0004).
    external_id = models.CharField(max_length=200)
    customer_id = models.CharField(max_length=200)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    purchased_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    store_id = models.CharField(max_length=200, blank=True, default="")
    # [{"sku", "category", "quantity", "unit_price"}] kept compact as JSONB; unit_price as a string
    # so no float ever touches money.
    items = models.JSONField()
    total = models.DecimalField(max_digits=18, decimal_places=4)
    # sha256 of the canonical request body: same external_id + same hash = duplicate, else conflict.
    body_hash = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    # Null until evaluated; the sweep re-enqueues purchases left unevaluated.
    evaluated_at = models.DateTimeField(null=True, blank=True)
    # Poison-message guard: evaluation attempts counted in the database, dead-lettered after N.
    evaluation_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(evaluated_at__isnull=True),
                name="purchase_unevaluated_idx",
            ),
            models.Index(fields=["customer_id"], name="purchase_customer_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                name="purchase_external_id_unique",
                violation_error_message="A purchase with this external id already exists.",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["in_store", "ecommerce"]),
                name="purchase_channel_valid",
                violation_error_message="Channel must be in store or e-commerce.",
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0),
                name="purchase_total_not_negative",
                violation_error_message="Total cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Evaluation(models.Model):
    """One purchase evaluated against one campaign: the result and the campaign version it used."""

    # No database FK constraints and no single-column FK indexes (ADR 0004, "Performance"): ten rows
    # are written per purchase, and the deferred per-row FK checks at commit cost as much as the COPY
    # itself. Rows are only ever written by the evaluation (for a purchase it has just locked, against
    # campaigns it has just read); cascades on delete are Django's (the ORM collector, unchanged) and
    # purges delete evaluations before purchases (archive). The unique (purchase, campaign) index
    # serves purchase lookups, `evaluation_campaign_idx` campaign lookups.
    purchase = models.ForeignKey(
        Purchase, on_delete=models.CASCADE, related_name="evaluations", db_constraint=False, db_index=False
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.CASCADE,
        related_name="evaluations",
        db_constraint=False,
        db_index=False,
    )
    campaign_version = models.PositiveIntegerField()
    eligible = models.BooleanField()
    eligible_value = models.DecimalField(max_digits=18, decimal_places=4)
    # null when eligible; else one of campaigns.rules.Reason.
    reason = models.CharField(max_length=40, null=True, blank=True)  # noqa: DJ001 - null means "eligible" (SPEC §2)
    evaluated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase", "campaign"],
                name="evaluation_unique_pair",
                violation_error_message="This purchase already has an evaluation for this campaign.",
            ),
            models.CheckConstraint(
                condition=Q(eligible=True, reason__isnull=True) | Q(eligible=False, reason__isnull=False),
                name="evaluation_reason_iff_ineligible",
                violation_error_message="An ineligible evaluation needs a reason, and an eligible one has none.",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "eligible"], name="evaluation_campaign_idx")]

    def __str__(self) -> str:
        return f"{self.purchase_id}×{self.campaign_id}: {'eligible' if self.eligible else self.reason}"


class PurchaseRefund(models.Model):
    """One refund of a purchase, whole or partial (SPEC §12): the lines it took back and its answer.

    A purchase's own `items` never change (they are what was bought, and its idempotency hash); what
    is left of it is `items` minus the lines of its refunds (`purchases.refunds.remaining_lines`).
    `outcome` is the API answer, kept so that a request replayed with the same `Idempotency-Key`
    gets it again without refunding twice (ADR 0025).
    """

    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="refunds")
    # [{"line": index in Purchase.items, "sku", "category", "quantity": refunded, "unit_price"}]
    items = models.JSONField()
    # The request named no items: everything left was refunded.
    whole = models.BooleanField(default=False)
    # Nothing of the purchase is left after this refund.
    complete = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    request_hash = models.CharField(max_length=64)
    outcome = models.JSONField(default=dict)
    actor = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="purchase_refund_idempotency_key_unique",
                violation_error_message="A refund with this Idempotency-Key already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.pk} of purchase {self.purchase_id}"
