"""API shapes of outgoing webhooks (SPEC §15). The secret is never listed: only create and rotate return it."""

from __future__ import annotations

from rest_framework import serializers

from outbox.events import SUBSCRIBABLE_EVENT_TYPES
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.URLField(
        max_length=500, help_text="Where events are POSTed (Standard Webhooks signed). Must be public."
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENT_TYPES),
        allow_empty=False,
        max_length=len(SUBSCRIBABLE_EVENT_TYPES),
        help_text="The event types to receive (at least one).",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_enabled = serializers.BooleanField(
        required=False,
        help_text="false disables the endpoint; true enables it again (and forgets its failure streak).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_enabled",
            "disabled_reason",
            "disabled_at",
            "failing_since",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "disabled_reason",
            "disabled_at",
            "failing_since",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The `whsec_…` signing secret: shown in this response only. Store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        ref_name = "WebhookEndpointCreated"


class SecretRotatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    secret = serializers.CharField(help_text="The new `whsec_…` secret: shown in this response only.")
    previous_secret_expires_at = serializers.DateTimeField(
        help_text="Until then every request carries two signatures: one per secret."
    )


class TestSendSerializer(serializers.Serializer):
    delivery_id = serializers.UUIDField()
    ok = serializers.BooleanField(help_text="The endpoint answered 2xx.")
    status_code = serializers.IntegerField(
        allow_null=True, help_text="null: no HTTP answer (timeout, refused)."
    )
    latency_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "attempted_at", "status_code", "latency_ms", "outcome", "error"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint_id = serializers.IntegerField(read_only=True)
    event_id = serializers.UUIDField(read_only=True)
    attempts_log = WebhookAttemptSerializer(source="attempt_log", many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event_id",
            "event_type",
            "is_test",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "sent_at",
            "replay_count",
            "replayed_at",
            "attempts_log",
        ]
        read_only_fields = fields
