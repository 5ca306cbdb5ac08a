"""Input of the experiment endpoints (SPEC §16)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from experiments.models import Experiment
from experiments.services import VariantSpec


class MessageOverrideSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    body = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class RewardOverrideSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["voucher", "special_offer"], required=False)
    value = serializers.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal(0), required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class OverridesSerializer(serializers.Serializer):
    message = MessageOverrideSerializer(required=False)
    reward = RewardOverrideSerializer(required=False)


class VariantSerializer(serializers.Serializer):
    key = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,50}$", help_text="Like A, B or control (letters, digits, _ -)."
    )
    weight = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    overrides = OverridesSerializer(required=False)

    def to_spec(self, data: dict[str, Any]) -> VariantSpec:
        overrides = data.get("overrides") or {}
        message, reward = overrides.get("message") or {}, overrides.get("reward") or {}
        return VariantSpec(
            key=data["key"],
            weight=data["weight"],
            message_title=message.get("title", ""),
            message_body=message.get("body", ""),
            reward_type=reward.get("type", ""),
            reward_value=reward.get("value"),
            reward_description=reward.get("description", ""),
        )


class ExperimentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    variants = VariantSerializer(many=True, help_text="At least two; the first is the control.")
    coverage = serializers.DecimalField(
        max_digits=5, decimal_places=4, min_value=Decimal("0.0001"), max_value=Decimal(1), default=Decimal(1)
    )
    primary_metric = serializers.ChoiceField(choices=Experiment.Metric.values, default="conversion_rate")
    confidence = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        min_value=Decimal("0.5"),
        max_value=Decimal("0.9999"),
        default=Decimal("0.95"),
    )
    min_sample_per_variant = serializers.IntegerField(min_value=1, max_value=100_000_000, default=1000)

    def validate_variants(self, value: list) -> list:
        if len(value) < 2:
            raise serializers.ValidationError(
                "An experiment needs at least two variants (a control and one more)."
            )
        if len(value) > 26:
            raise serializers.ValidationError("At most 26 variants.")
        keys = [v["key"] for v in value]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("Variant keys must be different from each other.")
        return value

    def specs(self) -> list[VariantSpec]:
        return [VariantSerializer().to_spec(v) for v in self.validated_data["variants"]]


class AssignSerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=200)


class ConcludeSerializer(serializers.Serializer):
    winner = serializers.CharField(
        required=False, max_length=50, help_text="The variant to roll out; default: the results' winner."
    )
