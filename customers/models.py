"""Customers of a brand, their purchase statistics and events, and segments of them (SPEC §11)."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.expressions import RawSQL

BUCKETS = 10_000


class Customer(models.Model):
    """A brand's customer, created on first sight (a purchase, an event or an upsert).

    Text fields hold `""` when unknown; the DSL treats `""` as missing.
    """

    # PostgreSQL's name of the unique index behind `customer_id` (raw upserts name it in ON CONFLICT).
    customer_id = models.CharField(max_length=200, unique=True)
    email = models.CharField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=16, blank=True, default="")  # E.164
    locale = models.CharField(max_length=35, blank=True, default="")  # BCP 47
    timezone = models.CharField(max_length=64, blank=True, default="")  # IANA
    country = models.CharField(max_length=2, blank=True, default="")  # ISO 3166-1 alpha-2
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Stable random 0–9999, drawn by the database at insert: a segment preview reads one bucket range,
    # a uniform random sample of the customers whatever order they arrived in.
    bucket = models.SmallIntegerField(
        db_default=RawSQL("floor(random() * 10000)::smallint", []), editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Set by the privacy erase: `customer_id` is then the salted hash the purchases also carry.
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["customer_id"]
        indexes = [
            GinIndex(fields=["attributes"], name="customer_attributes_gin"),
            models.Index(fields=["bucket"], name="customer_bucket_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(bucket__gte=0, bucket__lt=BUCKETS),
                name="customer_bucket_range",
                violation_error_message="Bucket must be between 0 and 9999.",
            ),
            models.CheckConstraint(
                condition=Q(lat__isnull=True) | Q(lat__gte=-90, lat__lte=90),
                name="customer_lat_range",
                violation_error_message="Latitude must be between -90 and 90.",
            ),
            models.CheckConstraint(
                condition=Q(lon__isnull=True) | Q(lon__gte=-180, lon__lte=180),
                name="customer_lon_range",
                violation_error_message="Longitude must be between -180 and 180.",
            ),
        ]

    def __str__(self) -> str:
        return self.customer_id


# What a customer's stats say, in API and snapshot order (the DSL's `stats.<field>` paths).
STATS_FIELDS = (
    "first_purchase_at",
    "last_purchase_at",
    "orders_total",
    "spend_total",
    "orders_90d",
    "spend_90d",
    "r",
    "f",
    "m",
)


class CustomerStats(models.Model):
    """Purchase statistics of one customer; every customer has a row (zeros until a purchase).

    Kept by the evaluation batch (one statement per batch); the 90-day figures and the RFM
    quintiles are recomputed nightly (`customers_stats_refresh`).
    """

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="stats"
    )
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    orders_total = models.PositiveIntegerField(default=0)
    spend_total = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(0))
    orders_90d = models.PositiveIntegerField(default=0)
    spend_90d = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(0))
    # RFM quintiles 1–5 (5 = most recent / most frequent / highest spend); null until computed.
    r = models.PositiveSmallIntegerField(null=True, blank=True)
    f = models.PositiveSmallIntegerField(null=True, blank=True)
    m = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "customer stats"
        constraints = [
            models.CheckConstraint(
                condition=(Q(r__isnull=True) | Q(r__gte=1, r__lte=5))
                & (Q(f__isnull=True) | Q(f__gte=1, f__lte=5))
                & (Q(m__isnull=True) | Q(m__gte=1, m__lte=5)),
                name="customer_stats_rfm_range",
                violation_error_message="Recency, frequency and monetary scores must be between 1 and 5.",
            ),
        ]

    def __str__(self) -> str:
        return f"stats of {self.customer_id}"


class Event(models.Model):
    """Something a customer did (`view`, `click`, `open`, `conversion`, or any name the brand sends)."""

    event_id = models.CharField(max_length=200, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=100)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            BrinIndex(fields=["occurred_at"], name="event_occurred_brin"),
            # The DSL's event conditions: this customer's events of this name since then.
            models.Index(fields=["customer", "name", "occurred_at"], name="event_customer_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.customer_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic"
        STATIC = "static"

    NAME_UNIQUE_CONSTRAINT = "customers_segment_name_key"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    # The DSL tree (customers/dsl.py) of a dynamic segment; `{}` for a static one.
    definition = models.JSONField(default=dict, blank=True)
    estimated_size = models.PositiveIntegerField(null=True, blank=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every change of the definition or of the members: campaign snapshots key on it.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["dynamic", "static"]),
                name="segment_kind_valid",
                violation_error_message="Kind must be dynamic or static.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A customer of a static segment (uploaded as CSV)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="segment_memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "customer"],
                name="segment_member_unique",
                violation_error_message="This customer is already a member of this segment.",
            )
        ]
        indexes = [models.Index(fields=["customer"], name="segment_member_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class SegmentSize(models.Model):
    """One exact count of a segment: its size history."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="size_history")
    size = models.PositiveIntegerField()
    computed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["segment", "-computed_at"], name="segment_size_history_idx")]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.size} at {self.computed_at:%Y-%m-%d %H:%M}"
