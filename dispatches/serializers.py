"""Output shapes of the dispatch audit API (`/api/v1/dispatches/`)."""

from __future__ import annotations

from rest_framework import serializers

from dispatches.models import Dispatch, DispatchAttempt


class DispatchAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DispatchAttempt
        fields = ["number", "attempted_at", "status_code", "latency_ms", "outcome", "error"]
        read_only_fields = fields


class DispatchSerializer(serializers.ModelSerializer):
    purchase_external_id = serializers.CharField(source="purchase.external_id", read_only=True)
    campaign_id = serializers.IntegerField(read_only=True)
    partner = serializers.CharField(source="partner.slug", read_only=True)

    class Meta:
        model = Dispatch
        fields = [
            "id",
            "purchase_external_id",
            "campaign_id",
            "partner",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "sent_at",
            "replay_count",
        ]
        read_only_fields = fields


class DispatchDetailSerializer(DispatchSerializer):
    attempts_log = DispatchAttemptSerializer(source="attempt_log", many=True, read_only=True)

    class Meta(DispatchSerializer.Meta):
        fields = [*DispatchSerializer.Meta.fields, "replayed_at", "attempts_log"]
        read_only_fields = fields
