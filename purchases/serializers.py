"""Request/response documentation of the purchase API (OpenAPI).

Validation itself is `purchases.validation` (one fast validator for the single
and batch endpoints); these serializers describe the same shapes for
`/api/schema/`, and are kept next to it so the two are reviewed together.
"""

from __future__ import annotations

from rest_framework import serializers


class PurchaseItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=200, required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1)
    unit_price = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        min_value=0,
        help_text="May be finer than the currency's minor unit; stored and returned exactly.",
    )


class PurchaseInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200)
    customer_id = serializers.CharField(max_length=200)
    channel = serializers.ChoiceField(choices=["in_store", "ecommerce"])
    purchased_at = serializers.DateTimeField(help_text="ISO 8601; without an offset it is read as UTC.")
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217, e.g. EUR.")
    store_id = serializers.CharField(max_length=200, required=False, allow_null=True)
    items = PurchaseItemSerializer(many=True)
    total = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        min_value=0,
        required=False,
        help_text="If given, the sum of the lines.",
    )


class PurchaseBatchInputSerializer(serializers.Serializer):
    purchases = PurchaseInputSerializer(many=True, help_text="At most 1000; more is a 413.")


class PurchaseAcceptedSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    status = serializers.CharField(default="accepted")


class PurchaseBatchItemResultSerializer(serializers.Serializer):
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "conflict", "invalid"])
    errors = serializers.DictField(required=False)


class PurchaseBatchResultSerializer(serializers.Serializer):
    results = PurchaseBatchItemResultSerializer(many=True)


# Output amounts are `core.money.money_str`: exactly the currency's decimals, rounded half up.
_ROUNDED_HELP = 'Rounded half up to the currency\'s minor unit (0.125 EUR is "0.13", 5 JPY is "5").'


class EvaluationOutputSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    campaign_version = serializers.IntegerField()
    eligible = serializers.BooleanField()
    eligible_value = serializers.DecimalField(max_digits=18, decimal_places=4, help_text=_ROUNDED_HELP)
    reason = serializers.CharField(allow_null=True)


class DispatchSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    campaign_id = serializers.IntegerField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()


class PurchaseDetailSerializer(PurchaseInputSerializer):
    total = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        help_text="The sum of the lines (stored exactly). "
        + _ROUNDED_HELP
        + " The partner receives the same.",
    )
    evaluations = EvaluationOutputSerializer(many=True)
    dispatches = DispatchSummarySerializer(many=True)


class RefundItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, help_text="How many of the line to take back.")
    unit_price = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        min_value=0,
        required=False,
        help_text="Picks among lines of one sku.",
    )
    category = serializers.CharField(
        max_length=200, required=False, help_text="Picks among lines of one sku."
    )


class RefundInputSerializer(serializers.Serializer):
    items = RefundItemSerializer(
        many=True, required=False, help_text="The refunded lines; leave out to refund everything left."
    )


class RefundEvaluationSerializer(EvaluationOutputSerializer):
    was_eligible = serializers.BooleanField(help_text="Eligible before this refund.")
    dispatch = serializers.ChoiceField(
        choices=["retracted", "cancelled", "none"],
        allow_null=True,
        help_text="For a pair no longer eligible: its sent reward retracted, its unsent dispatch "
        "cancelled, or nothing had reached the partner. Null when the verdict did not change.",
    )
    retraction_id = serializers.UUIDField(allow_null=True, help_text="The `purchase.retracted` message.")


class RefundResultSerializer(serializers.Serializer):
    refund_id = serializers.IntegerField()
    external_id = serializers.CharField()
    complete = serializers.BooleanField(help_text="Nothing of the purchase is left.")
    refunded_items = PurchaseItemSerializer(many=True)
    remaining_items = PurchaseItemSerializer(many=True)
    evaluations = RefundEvaluationSerializer(many=True)
