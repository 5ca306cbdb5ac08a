"""Campaigns a brand's CRM team configures, their item rules and their lifecycle audit."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q


class Campaign(models.Model):
    class Kind(models.TextChoices):
        CHRISTMAS = "christmas"
        CARNIVAL = "carnival"
        ANNIVERSARY = "anniversary"
        BLACK_FRIDAY = "black_friday"
        CUSTOM = "custom"
        PROMOTION = "promotion"

    class Status(models.TextChoices):
        DRAFT = "draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        ACTIVE = "active"
        PAUSED = "paused"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        ARCHIVED = "archived"

    class Channel(models.TextChoices):
        IN_STORE = "in_store", "In store"
        ECOMMERCE = "ecommerce", "E-commerce"

    # PostgreSQL's name of the unique constraint `unique=True` creates (services read it off errors).
    NAME_UNIQUE_CONSTRAINT = "campaigns_campaign_name_key"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    starts_at = models.DateTimeField("start")
    ends_at = models.DateTimeField("end")
    purchase_channels = ArrayField(
        models.CharField(max_length=20, choices=Channel.choices), verbose_name="purchase channels"
    )
    currency = models.CharField(max_length=3)
    # 4 decimal places hold every ISO 4217 minor unit (CLF has 4).
    min_purchase_value = models.DecimalField(
        "minimum purchase value",
        max_digits=18,
        decimal_places=4,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    # {"type": "voucher"|"special_offer", "value": "...", "description": "..."}
    reward = models.JSONField(default=dict, blank=True)
    # Push templates {"title": "...", "body": "..."} (Django template language, rendered sandboxed).
    notification = models.JSONField(default=dict, blank=True)
    # Targeting (SPEC §11): only customers of this segment, and only purchases this rule accepts
    # (`customers.dsl` tree on the customer snapshot and purchase.total|store_id|channel); else the
    # reason is `customer_not_eligible`.
    segment = models.ForeignKey(
        "customers.Segment", on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    eligibility = models.JSONField(null=True, blank=True, default=None)
    # Analytics (SPEC §16): a purchase within this many hours after a message or a view/click of the
    # campaign is one of its conversions.
    attribution_window_hours = models.PositiveIntegerField(
        "attribution window (hours)",
        default=72,
        validators=[MinValueValidator(1)],
        help_text="A purchase this many hours or less after a message, view or click counts as a conversion.",
    )
    # At most this many eligible purchases (rewards) per customer (SPEC §12); null = unlimited.
    max_rewards_per_customer = models.PositiveIntegerField(
        "max rewards per customer",
        null=True,
        blank=True,
        help_text="At most this many rewarded purchases per customer; empty means unlimited.",
    )
    # Bumped by every edit of the campaign or of its item rules; evaluations record it.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When it entered `completed`: late purchases count for LATE_PURCHASE_GRACE after that.
    completed_at = models.DateTimeField(null=True, blank=True)
    # Who asked for activation while the campaign waits in `pending_approval` (an actor string);
    # the approver must be someone else (ADR 0023).
    approval_requested_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="campaign_ends_after_start",
                violation_error_message="End must be after the start.",
            ),
            models.CheckConstraint(
                condition=Q(min_purchase_value__gte=0),
                name="campaign_min_value_not_negative",
                violation_error_message="Minimum purchase value cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(purchase_channels__len__gt=0)
                & Q(purchase_channels__contained_by=["in_store", "ecommerce"]),
                name="campaign_channels_valid",
                violation_error_message="Choose at least one purchase channel: in store or e-commerce.",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"),
                name="campaign_currency_format",
                violation_error_message="Currency must be a three-letter ISO 4217 code, like EUR.",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "draft",
                        "pending_approval",
                        "active",
                        "paused",
                        "completed",
                        "cancelled",
                        "archived",
                    ]
                ),
                name="campaign_status_valid",
                violation_error_message="Status is not one of the campaign statuses.",
            ),
            models.CheckConstraint(
                condition=Q(attribution_window_hours__gte=1),
                name="campaign_attribution_window_positive",
                violation_error_message="Attribution window must be at least 1 hour.",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["christmas", "carnival", "anniversary", "black_friday", "custom", "promotion"]
                ),
                name="campaign_kind_valid",
                violation_error_message="Kind is not one of the campaign kinds.",
            ),
            models.CheckConstraint(
                condition=Q(max_rewards_per_customer__isnull=True) | Q(max_rewards_per_customer__gte=1),
                name="campaign_max_rewards_at_least_1",
                violation_error_message="Max rewards per customer must be at least 1 (or empty for unlimited).",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ItemRule(models.Model):
    """A blacklist entry (line excluded from the value) or whitelist entry (line counted with a bonus)."""

    class Kind(models.TextChoices):
        BLACKLIST = "blacklist", "Blacklist"
        WHITELIST = "whitelist", "Whitelist"

    class Match(models.TextChoices):
        SKU = "sku", "SKU"
        CATEGORY = "category", "Category"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="item_rules")
    kind = models.CharField(
        max_length=10,
        choices=Kind.choices,
        help_text="Blacklist: a matching line never counts. "
        "Whitelist: a matching line counts × multiplier + bonus per unit.",
    )
    match = models.CharField(
        max_length=10, choices=Match.choices, help_text="What the value is compared with."
    )
    value = models.CharField(max_length=200, help_text="The SKU or category, exactly as purchases send it.")
    multiplier = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(1))],
        help_text="Whitelist: the line total is multiplied by this (1 = unchanged, at least 1).",
    )
    bonus_per_unit = models.DecimalField(
        "bonus per unit",
        max_digits=18,
        decimal_places=4,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Whitelist: added for each unit bought, in the campaign's currency.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "kind", "match", "value"],
                name="item_rule_unique",
                violation_error_message="This campaign already has a rule of this kind for this SKU or category.",
            ),
            models.CheckConstraint(
                condition=Q(multiplier__gte=1),
                name="item_rule_multiplier_at_least_1",
                violation_error_message="Multiplier must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(bonus_per_unit__gte=0),
                name="item_rule_bonus_not_negative",
                violation_error_message="Bonus per unit cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["blacklist", "whitelist"]),
                name="item_rule_kind_valid",
                violation_error_message="Kind must be Blacklist or Whitelist.",
            ),
            models.CheckConstraint(
                condition=Q(match__in=["sku", "category"]),
                name="item_rule_match_valid",
                violation_error_message="Match must be SKU or Category.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.match}={self.value}"


class CampaignTransition(models.Model):
    """Audit row of one lifecycle step: who, when, from, to."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    # "user:<username>", "api-key:<name>" or "system" (beat jobs).
    actor = models.CharField(max_length=200)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.from_status} → {self.to_status} by {self.actor}"


class Budget(models.Model):
    """A campaign's budget (SPEC §13): never overspent, whatever the concurrency.

    `committed` counts rewards sent (and redemptions committed), `reserved` those
    promised but not settled yet; both belong to the current period, which starts
    at `period_start` (the brand's local midnight of the day, Monday of the week,
    first of the month; the epoch for `total`). Every change is one conditional
    UPDATE in `campaigns.budgets`, and `budget_within_limit` backs it.
    """

    class Kind(models.TextChoices):
        SPEND = "spend", "Spend (campaign currency)"
        COUNT = "count", "Count of rewards"

    class Period(models.TextChoices):
        TOTAL = "total", "Whole campaign"
        DAY = "day", "Per day"
        WEEK = "week", "Per week"
        MONTH = "month", "Per month"

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="budget")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.COUNT)
    limit = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="Spend: in the campaign's currency. Count: number of rewards.",
    )
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.TOTAL)
    committed = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal(0))
    reserved = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal(0))
    pause_at_percent = models.PositiveSmallIntegerField(
        "pause at percent",
        default=90,
        help_text="The campaign pauses when committed + reserved reaches this share of the limit.",
    )
    period_start = models.DateTimeField(null=True, blank=True)
    # When this period's threshold fired (once per period).
    threshold_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(committed__gte=0) & Q(reserved__gte=0),
                name="budget_counters_not_negative",
                violation_error_message="Budget counters cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(limit__gt=0),
                name="budget_limit_positive",
                violation_error_message="Budget limit must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(limit__gte=F("committed") + F("reserved")),
                name="budget_within_limit",
                violation_error_message="Committed plus reserved cannot exceed the budget limit.",
            ),
            models.CheckConstraint(
                condition=Q(pause_at_percent__gte=1) & Q(pause_at_percent__lte=100),
                name="budget_pause_percent_range",
                violation_error_message="Pause at percent must be between 1 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["spend", "count"]),
                name="budget_kind_valid",
                violation_error_message="Kind must be spend or count.",
            ),
            models.CheckConstraint(
                condition=Q(period__in=["total", "day", "week", "month"]),
                name="budget_period_valid",
                violation_error_message="Period must be total, day, week or month.",
            ),
        ]

    def __str__(self) -> str:
        return f"budget of campaign {self.campaign_id}: {self.committed}+{self.reserved}/{self.limit}"


class BudgetLedger(models.Model):
    """One reservation of a budget and how it was settled (committed or released).

    `ref` names what reserved it: `dispatch:<purchase_id>:<campaign_id>` for a
    reward, `redemption:<id>` for a promo-code discount. A ref has at most one
    open (`reserved`) row; a dead-letter replay reserves again with a new row.
    """

    class Status(models.TextChoices):
        RESERVED = "reserved"
        COMMITTED = "committed"
        RELEASED = "released"

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="ledger")
    ref = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    period_start = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ref"], name="budget_ledger_ref_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["ref"],
                condition=Q(status="reserved"),
                name="budget_ledger_one_open_per_ref",
                violation_error_message="This reference already holds a reservation.",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="budget_ledger_amount_positive",
                violation_error_message="A ledger amount must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["reserved", "committed", "released"]),
                name="budget_ledger_status_valid",
                violation_error_message="Status must be reserved, committed or released.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.amount} {self.status}"


class CustomerRewardCount(models.Model):
    """How many rewarded (eligible) purchases a customer has in a campaign with `max_rewards_per_customer`.

    Written only by `campaigns.limits.rewards_grant` (one conditional upsert per evaluation batch) and
    `rewards_release` (refunds); the CheckConstraint is the last line of the race-free guarantee.
    `reward_limit` is the campaign's limit when the row was last granted to.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reward_counts")
    customer_id = models.CharField(max_length=200)
    rewards = models.PositiveIntegerField(default=0)
    reward_limit = models.PositiveIntegerField()
    # How many the last grant added (RETURNING reads it: the batch's purchases beyond it are over the limit).
    last_granted = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["campaign_id", "customer_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer_id"],
                name="reward_count_unique",
                violation_error_message="This customer already has a reward counter in this campaign.",
            ),
            models.CheckConstraint(
                condition=Q(rewards__gte=0) & Q(rewards__lte=F("reward_limit")),
                name="reward_count_within_limit",
                violation_error_message="A customer cannot get more rewards than the campaign allows.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id}: {self.rewards}/{self.reward_limit}"
