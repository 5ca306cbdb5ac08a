"""Input parsing and output shapes of the campaign API (SPEC §2). Writes go through campaigns.services."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from campaigns.models import Budget, BudgetLedger, Campaign, CampaignTransition, ItemRule
from campaigns.services import (
    NOTIFICATION_BODY_MAX_LENGTH,
    NOTIFICATION_TITLE_MAX_LENGTH,
    REWARD_DESCRIPTION_MAX_LENGTH,
    REWARD_TYPES,
    REWARD_VALUE_MAX_LENGTH,
)
from core.fields import SlugRelatedField
from core.money import is_iso_4217, money_str
from customers.models import Segment
from customers.openapi import DefinitionField
from partners.models import Partner


def datetime_text(value: datetime | None) -> str | None:
    """DRF's ISO 8601 rendering (UTC, `Z`), without building a serializer field per value (list hot path)."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def decimal_text(value: Decimal | None, *, currency: str | None = None) -> str | None:
    """A decimal as JSON text: money (a currency given) as `core.money.money_str`, anything else minimal.

    `Decimal("50.0000")` in EUR → `"50.00"`; a multiplier `Decimal("1.5000")` → `"1.5"`. A money
    field never has more decimals than its currency (`campaign_validate`), so nothing is rounded away.
    """
    if value is None:
        return None
    if currency is not None and is_iso_4217(currency):
        return money_str(value, currency)
    return format(value.normalize(), "f")


class RewardSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=REWARD_TYPES, help_text="`voucher` or `special_offer`.")
    value = serializers.CharField(
        max_length=REWARD_VALUE_MAX_LENGTH,
        help_text='The reward\'s value as text: an amount (`"10.00"`) or wording (`"2 for 1"`).',
    )
    description = serializers.CharField(
        max_length=REWARD_DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class NotificationSerializer(serializers.Serializer):
    title = serializers.CharField(
        max_length=NOTIFICATION_TITLE_MAX_LENGTH,
        help_text="Push title template, e.g. `You won {{ award.value }}!`.",
    )
    body = serializers.CharField(
        max_length=NOTIFICATION_BODY_MAX_LENGTH,
        help_text="Push body template (`{{ customer_id }}`, `{{ award.* }}`, `{{ campaign.name }}` …).",
    )


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign. `id`, `status`, `version`, `created_at`, `updated_at` are read-only and ignored on input:
    the status changes only through the lifecycle actions, the version on every edit."""

    purchase_channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Campaign.Channel.choices),
        allow_empty=False,
        help_text="Non-empty subset of `in_store`, `ecommerce`.",
    )
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217 code, upper case.")
    min_purchase_value = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        min_value=Decimal(0),
        required=False,
        help_text="Minimum eligible value (decimal string ≥ 0, at most the currency's decimal places).",
    )
    partner = SlugRelatedField(  # core.fields: refuses NUL characters before querying
        slug_field="slug",
        queryset=Partner.objects.all(),
        allow_null=True,
        required=False,
        help_text="The reward partner's slug (required before activation).",
    )
    reward = RewardSerializer(required=False, allow_null=True)
    notification = NotificationSerializer(required=False, allow_null=True)
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(),
        allow_null=True,
        required=False,
        help_text="Only customers of this segment (its id) are eligible (`customer_not_eligible`).",
    )
    eligibility = DefinitionField(
        required=False,
        allow_null=True,
        help_text="A rule in the segment DSL on the customer and the purchase (purchase.total, "
        "purchase.store_id, purchase.channel); purchases it refuses are `customer_not_eligible`.",
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "starts_at",
            "ends_at",
            "purchase_channels",
            "currency",
            "min_purchase_value",
            "partner",
            "reward",
            "notification",
            "attribution_window_hours",
            "segment",
            "eligibility",
            "max_rewards_per_customer",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "version", "created_at", "updated_at"]
        extra_kwargs = {
            "name": {"help_text": "Unique within the brand (400 on `name` otherwise)."},
            "kind": {
                "help_text": "`christmas`, `carnival`, `anniversary`, `black_friday`, `custom` or `promotion`."
            },
            "status": {"help_text": "Read-only: changed by the lifecycle actions (SPEC §4)."},
            "starts_at": {"help_text": "Purchases count from this instant (inclusive)."},
            "ends_at": {
                "help_text": "Purchases count until this instant (exclusive); must be after `starts_at`."
            },
            "version": {"help_text": "Read-only; bumped by every edit of the campaign or of its item rules."},
        }

    def validate_currency(self, value: str) -> str:
        if not is_iso_4217(value):
            raise serializers.ValidationError(
                f"{value!r} is not an ISO 4217 currency code (upper case, e.g. EUR)."
            )
        return value

    def validate_purchase_channels(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Campaign | None = self.instance
        starts_at = attrs.get("starts_at", instance.starts_at if instance else None)
        ends_at = attrs.get("ends_at", instance.ends_at if instance else None)
        if starts_at and ends_at and ends_at <= starts_at:
            raise serializers.ValidationError({"ends_at": ["ends_at must be after starts_at."]})
        for key in ("reward", "notification"):
            if key in attrs:
                attrs[key] = dict(attrs[key]) if attrs[key] else {}
        return attrs

    def to_representation(self, campaign: Campaign) -> dict[str, Any]:
        return {
            "id": campaign.pk,
            "name": campaign.name,
            "kind": campaign.kind,
            "status": campaign.status,
            "starts_at": datetime_text(campaign.starts_at),
            "ends_at": datetime_text(campaign.ends_at),
            "purchase_channels": list(campaign.purchase_channels),
            "currency": campaign.currency,
            "min_purchase_value": decimal_text(campaign.min_purchase_value, currency=campaign.currency),
            "partner": campaign.partner.slug if campaign.partner_id else None,
            "reward": campaign.reward or None,
            "notification": campaign.notification or None,
            "segment": campaign.segment_id,
            "eligibility": campaign.eligibility,
            "attribution_window_hours": campaign.attribution_window_hours,
            "max_rewards_per_customer": campaign.max_rewards_per_customer,
            "version": campaign.version,
            "created_at": datetime_text(campaign.created_at),
            "updated_at": datetime_text(campaign.updated_at),
        }


class LifecycleSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, default="", help_text="Kept in the audit trail."
    )


class ItemRuleSerializer(serializers.ModelSerializer):
    """A blacklist/whitelist entry. The (`kind`, `match`, `value`) triple is unique per campaign."""

    multiplier = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=Decimal(1),
        required=False,
        help_text="Whitelist: the line counts `line_total × multiplier` (decimal ≥ 1, default 1).",
    )
    bonus_per_unit = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        min_value=Decimal(0),
        required=False,
        help_text="Whitelist: plus `quantity × bonus_per_unit` (decimal ≥ 0, default 0).",
    )

    class Meta:
        model = ItemRule
        fields = ["id", "kind", "match", "value", "multiplier", "bonus_per_unit", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness is the service's job (a clear message on `value`), not an auto-validator.
        validators: list[Any] = []

    def to_representation(self, rule: ItemRule) -> dict[str, Any]:
        return {
            "id": rule.pk,
            "kind": rule.kind,
            "match": rule.match,
            "value": rule.value,
            "multiplier": decimal_text(rule.multiplier),
            "bonus_per_unit": decimal_text(rule.bonus_per_unit),
            "created_at": datetime_text(rule.created_at),
        }


class ItemRuleImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField(help_text="How many rules were created.")
    campaign_version = serializers.IntegerField(help_text="The campaign's version after the import.")


class ItemRuleImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with columns `kind,match,value,multiplier,bonus_per_unit` (header optional; "
        "the last two may be empty). A `text/csv` request body is accepted too."
    )


class CampaignTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = CampaignTransition
        fields = ["from_status", "to_status", "actor", "note", "created_at"]


class BudgetSerializer(serializers.ModelSerializer):
    """A campaign's budget (SPEC §13). `committed`, `reserved`, `period_start` are the platform's."""

    limit = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        help_text="Spend: money; count: rewards.",
    )
    pause_at_percent = serializers.IntegerField(min_value=1, max_value=100, default=90)
    period = serializers.ChoiceField(choices=Budget.Period.choices, default=Budget.Period.TOTAL)
    used_percent = serializers.SerializerMethodField(help_text="(committed + reserved) / limit × 100.")

    class Meta:
        model = Budget
        fields = ["kind", "limit", "period", "pause_at_percent", "committed", "reserved", "period_start",
                  "used_percent"]  # fmt: skip
        read_only_fields = ["committed", "reserved", "period_start"]

    def get_used_percent(self, budget: Budget) -> float:
        return (
            float(round((budget.committed + budget.reserved) * 100 / budget.limit, 2))
            if budget.limit
            else 0.0
        )


class BudgetLedgerSerializer(serializers.ModelSerializer):
    class Meta:
        model = BudgetLedger
        fields = ["id", "ref", "amount", "status", "period_start", "created_at", "settled_at"]
        read_only_fields = fields


BULK_ACTIONS = ("activate", "pause", "resume", "complete", "cancel", "delete")


class BulkRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=1000
    )
    dry_run = serializers.BooleanField(default=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class BulkItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["ok", "conflict", "not_found"])
    error = serializers.CharField(required=False)


class BulkResultSerializer(serializers.Serializer):
    results = BulkItemSerializer(many=True)
