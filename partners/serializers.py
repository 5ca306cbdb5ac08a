"""Partner configuration API shapes (SPEC §2). `secret` is write-only."""

from __future__ import annotations

from rest_framework import serializers

from partners.models import Partner
from partners.services import MAX_ATTEMPTS_LIMIT, TIMEOUT_SECONDS_LIMIT


class PartnerSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Write-only Standard Webhooks secret `whsec_<base64 of 24–64 bytes>`. Leave it out on "
        "create and the platform generates one, returned once in the create response. Never returned "
        "otherwise. Changing it keeps the previous secret valid for incoming webhooks for 24 h.",
    )
    timeout_seconds = serializers.IntegerField(
        min_value=1, max_value=TIMEOUT_SECONDS_LIMIT, required=False, help_text="Per request, 1–120 s."
    )
    max_attempts = serializers.IntegerField(
        min_value=1, max_value=MAX_ATTEMPTS_LIMIT, required=False, help_text="Dispatch attempts before dead."
    )

    class Meta:
        model = Partner
        fields = [
            "slug",
            "name",
            "submission_url",
            "auth_url",
            "secret",
            "timeout_seconds",
            "max_attempts",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {
            "slug": {"help_text": "Identifier in URLs and tokens (`aud`); unique; cannot change."},
            "submission_url": {"help_text": "Where eligible purchases are POSTed (signed). Must be public."},
            "auth_url": {"help_text": "Participation URL base (`auth_url?token=…`). Must be public."},
        }


class PartnerCreatedSerializer(PartnerSerializer):
    """The create response (documentation): the partner, plus `secret` only when the platform generated it."""

    secret = serializers.CharField(
        read_only=True,
        required=False,
        help_text="Present only in the create response and only when the platform generated the secret: "
        "store it now, it is never shown again.",
    )

    class Meta(PartnerSerializer.Meta):
        ref_name = "PartnerCreated"
