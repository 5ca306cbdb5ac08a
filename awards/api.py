"""The partner loop's API: participation URLs (SPEC §6), the award webhook (§7) and customers' awards."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from awards.models import Award
from awards.selectors import awards_of_customer
from awards.services import (
    AwardData,
    award_display_value,
    award_receive,
    award_webhook_authenticate,
)
from campaigns.participation import participation_token_issue
from core.money import is_iso_4217
from core.permissions import IsIngest
from core.throttling import FailOpenThrottleMixin

MAX_WEBHOOK_ID_LENGTH = 200


# --- Participation URL


class ParticipationUrlInputSerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=200)


class ParticipationUrlOutputSerializer(serializers.Serializer):
    url = serializers.CharField()
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ParticipationUrlApi(APIView):
    """A partner-specific participation URL for a customer of an active campaign."""

    permission_classes = [IsIngest]

    @extend_schema(request=ParticipationUrlInputSerializer, responses=ParticipationUrlOutputSerializer)
    def post(self, request: Request, campaign_id: int) -> Response:
        serializer = ParticipationUrlInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = participation_token_issue(
            campaign_id=campaign_id, customer_id=serializer.validated_data["customer_id"]
        )
        return Response(
            ParticipationUrlOutputSerializer(
                {"url": issued.url, "token": issued.token, "expires_at": issued.expires_at}
            ).data
        )


# --- Awards


class AwardInputSerializer(serializers.Serializer):
    """The award webhook body: award_id, customer_id, campaign_id, reward_type required; the rest optional."""

    award_id = serializers.CharField(max_length=200)
    customer_id = serializers.CharField(max_length=200)
    campaign_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    reward_type = serializers.ChoiceField(choices=Award.RewardType.choices)
    value = serializers.DecimalField(
        max_digits=18, decimal_places=4, min_value=Decimal(0), required=False, allow_null=True, default=None
    )
    currency = serializers.CharField(
        max_length=3, required=False, allow_blank=True, allow_null=True, default=""
    )
    voucher_code = serializers.CharField(
        max_length=200, required=False, allow_blank=True, allow_null=True, default="", trim_whitespace=False
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    message = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, allow_null=True, default="", trim_whitespace=False
    )

    def validate_currency(self, value: str | None) -> str:
        value = value or ""
        if value and not is_iso_4217(value):
            raise serializers.ValidationError("Not an ISO 4217 currency code.")
        return value

    def validate_voucher_code(self, value: str | None) -> str:
        return value or ""

    def validate_message(self, value: str | None) -> str:
        return value or ""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("value") is not None and not attrs.get("currency"):
            raise serializers.ValidationError({"currency": ["Required when value is given."]})
        return attrs


class AwardNotificationSerializer(serializers.Serializer):
    status = serializers.CharField()
    sent_at = serializers.DateTimeField(allow_null=True)


class AwardOutputSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    campaign_id = serializers.IntegerField()
    # A string in the currency's minor unit ("10.00"), or null.
    value = serializers.SerializerMethodField()
    notification = serializers.SerializerMethodField()

    class Meta:
        model = Award
        fields = [
            "award_id",
            "partner",
            "customer_id",
            "campaign_id",
            "reward_type",
            "value",
            "currency",
            "voucher_code",
            "expires_at",
            "message",
            "received_at",
            "notification",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_value(self, award: Award) -> str | None:
        return award_display_value(award.value, award.currency)

    @extend_schema_field(AwardNotificationSerializer(allow_null=True))
    def get_notification(self, award: Award) -> dict[str, Any] | None:
        notification = getattr(award, "notification", None)
        if notification is None:
            return None
        return AwardNotificationSerializer(notification).data


class AwardWebhookThrottle(FailOpenThrottleMixin, SimpleRateThrottle):
    """Per partner slug and client IP: the webhook has no API key to count against."""

    scope = "award_webhook"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        slug = str(view.kwargs.get("slug", ""))[:100]
        return self.cache_format % {"scope": self.scope, "ident": f"{slug}:{self.get_ident(request)}"}


def _parse_json_object(raw_body: bytes) -> Any:
    def reject_constant(name: str) -> None:
        raise ValueError(f"{name} is not a number")

    try:
        return json.loads(raw_body, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ParseError("The body is not valid JSON.") from exc


class AwardWebhookApi(APIView):
    """Partners report awards here, signed with Standard Webhooks (the signature is the authentication)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AwardWebhookThrottle]

    @extend_schema(
        auth=[],
        request=AwardInputSerializer,
        responses={
            201: AwardOutputSerializer,
            200: OpenApiResponse(
                AwardOutputSerializer, description="A replayed webhook-id or a known award_id."
            ),
            401: OpenApiResponse(description="Missing, invalid or expired signature, or an unknown partner."),
            403: OpenApiResponse(description="The partner is inactive."),
            422: OpenApiResponse(description="Unknown campaign, or a campaign of another partner."),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        # The signature covers the exact bytes received: read them before anything parses the body.
        raw_body = request.body
        partner = award_webhook_authenticate(partner_slug=slug, raw_body=raw_body, headers=request.headers)
        webhook_id = request.headers["webhook-id"]
        if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH:
            raise serializers.ValidationError(
                {"webhook-id": [f"At most {MAX_WEBHOOK_ID_LENGTH} characters."]}
            )
        serializer = AwardInputSerializer(data=_parse_json_object(raw_body))
        serializer.is_valid(raise_exception=True)
        award, created = award_receive(
            partner=partner, webhook_id=webhook_id, data=AwardData(**serializer.validated_data)
        )
        return Response(
            AwardOutputSerializer(award).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CustomerAwardsApi(ListAPIView):
    """A customer's awards, newest first (paginated)."""

    permission_classes = [IsIngest]
    serializer_class = AwardOutputSerializer
    queryset = Award.objects.none()  # for the OpenAPI generator; requests use the selector

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Award.objects.none()
        return awards_of_customer(customer_id=self.kwargs["customer_id"])
