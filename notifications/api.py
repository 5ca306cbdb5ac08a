"""Notification replay (crm) and device-token registration for FCM (ingest)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.exceptions import ValidationFailed
from core.pagination import PagePagination
from core.permissions import IsCrm, IsIngest, IsIngestOrCrm
from notifications.broadcasts import (
    campaign_message_get,
    campaign_message_preview,
    campaign_message_test_send,
)
from notifications.messages import inbox_mark_read, preferences_set, suppression_add, suppression_remove
from notifications.models import Channel, DeviceToken, Message, Notification, Suppression
from notifications.selectors import inbox_of, preferences_of, suppressions_list
from notifications.services import device_token_register, device_token_unregister, notification_replay


class NotificationOutputSerializer(serializers.ModelSerializer):
    award_id = serializers.CharField(source="award.award_id")

    class Meta:
        model = Notification
        fields = [
            "id",
            "customer_id",
            "campaign_id",
            "award_id",
            "title",
            "body",
            "provider",
            "status",
            "attempts",
            "next_attempt_at",
            "provider_message_id",
            "last_error",
            "created_at",
            "sent_at",
        ]


class NotificationReplayApi(APIView):
    """Queue a dead notification again (409 unless it is dead)."""

    permission_classes = [IsCrm]

    @extend_schema(request=None, responses=NotificationOutputSerializer)
    def post(self, request: Request, notification_id: uuid.UUID) -> Response:
        notification = notification_replay(notification_id=notification_id, actor=actor_for(request.user))
        return Response(NotificationOutputSerializer(notification).data)


class DeviceTokenInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    platform = serializers.ChoiceField(choices=DeviceToken.Platform.choices, required=False, default="")


class DeviceTokenOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeviceToken
        fields = ["customer_id", "token", "platform", "created_at", "updated_at"]


class DeviceTokensApi(APIView):
    """Register a customer's FCM registration token (used by the `fcm` provider)."""

    permission_classes = [IsIngest]

    @extend_schema(
        request=DeviceTokenInputSerializer,
        responses={201: DeviceTokenOutputSerializer, 200: DeviceTokenOutputSerializer},
    )
    def post(self, request: Request, customer_id: str) -> Response:
        serializer = DeviceTokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device, created = device_token_register(customer_id=customer_id, **serializer.validated_data)
        return Response(
            DeviceTokenOutputSerializer(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DeviceTokenDetailApi(APIView):
    permission_classes = [IsIngest]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, customer_id: str, token: str) -> Response:
        device_token_unregister(customer_id=customer_id, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Messages (SPEC §14): preferences, suppressions, the in-app inbox ---------------------------------


class PreferenceSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    topic = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    opted_in = serializers.BooleanField()


class PreferencesSerializer(serializers.Serializer):
    customer_id = serializers.CharField(read_only=True)
    preferences = PreferenceSerializer(many=True)


class CustomerPreferencesApi(APIView):
    """A customer's consent per channel and topic (topic "" = the whole channel). PUT replaces them all."""

    permission_classes = [IsIngestOrCrm]

    def get_permissions(self):
        return [IsIngestOrCrm()] if self.request.method == "GET" else [IsIngest()]

    @extend_schema(responses=PreferencesSerializer)
    def get(self, request: Request, customer_id: str) -> Response:
        rows = preferences_of(customer_id=customer_id)
        return Response(
            {"customer_id": customer_id, "preferences": PreferenceSerializer(rows, many=True).data}
        )

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    def put(self, request: Request, customer_id: str) -> Response:
        serializer = PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rows = preferences_set(
            customer_id=customer_id,
            preferences=serializer.validated_data["preferences"],
            actor=actor_for(request.user),
        )
        return Response(
            {"customer_id": customer_id, "preferences": PreferenceSerializer(rows, many=True).data}
        )


class SuppressionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suppression
        fields = ["id", "channel", "address", "reason", "note", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"reason": {"required": False}, "note": {"required": False}}
        validators: list = []  # the service answers a duplicate with the existing row


class SuppressionsApi(GenericAPIView):
    """The suppression list: nothing is sent to these addresses, not even transactional messages."""

    permission_classes = [IsCrm]
    serializer_class = SuppressionSerializer
    pagination_class = PagePagination
    queryset = Suppression.objects.none()  # for the schema

    @extend_schema(
        parameters=[
            OpenApiParameter("channel", str, required=False),
            OpenApiParameter("address", str, required=False),
        ],
        responses=SuppressionSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        rows = suppressions_list(
            channel=request.query_params.get("channel", ""), address=request.query_params.get("address", "")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(SuppressionSerializer(page, many=True).data)

    @extend_schema(
        request=SuppressionSerializer, responses={201: SuppressionSerializer, 200: SuppressionSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = SuppressionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        suppression, created = suppression_add(actor=actor_for(request.user), **serializer.validated_data)
        return Response(
            SuppressionSerializer(suppression).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SuppressionDetailApi(APIView):
    permission_classes = [IsCrm]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, suppression_id: int) -> Response:
        suppression_remove(suppression_id=suppression_id, actor=actor_for(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InboxMessageSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="subject")
    body = serializers.CharField(source="body_text")

    class Meta:
        model = Message
        fields = [
            "id",
            "title",
            "body",
            "body_html",
            "category",
            "topic",
            "campaign_id",
            "created_at",
            "read_at",
        ]


class CustomerInboxApi(GenericAPIView):
    """The customer's in-app inbox, newest first (`?unread=true` for the unread ones)."""

    permission_classes = [IsIngest]
    serializer_class = InboxMessageSerializer
    pagination_class = PagePagination
    queryset = Message.objects.none()  # for the schema

    @extend_schema(
        parameters=[
            OpenApiParameter("unread", bool, required=False),
        ],
        responses=InboxMessageSerializer(many=True),
    )
    def get(self, request: Request, customer_id: str) -> Response:
        rows = inbox_of(
            customer_id=customer_id, unread=request.query_params.get("unread", "").lower() == "true"
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(InboxMessageSerializer(page, many=True).data)


class InboxReadApi(APIView):
    permission_classes = [IsIngest]

    @extend_schema(request=None, responses=InboxMessageSerializer)
    def post(self, request: Request, message_id: uuid.UUID) -> Response:
        return Response(InboxMessageSerializer(inbox_mark_read(message_id=message_id)).data)


class CampaignMessageTestSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    address = serializers.CharField(max_length=254)
    customer_id = serializers.CharField(max_length=200, required=False, default="")


class MessageOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "customer_id",
            "channel",
            "category",
            "topic",
            "address",
            "subject",
            "body_text",
            "body_html",
            "status",
            "skip_reason",
            "attempts",
            "provider",
            "provider_message_id",
            "campaign_id",
            "created_at",
            "sent_at",
        ]


class PreviewSerializer(serializers.Serializer):
    customer_id = serializers.CharField()
    channel = serializers.CharField()
    address = serializers.CharField(allow_blank=True)
    subject = serializers.CharField(allow_blank=True)
    body_text = serializers.CharField(allow_blank=True)
    body_html = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    skip_reason = serializers.CharField(allow_blank=True)


class CampaignMessageTestApi(APIView):
    """Send the message once to a given address (a test: transactional, so no consent or cap check;
    a suppressed address is still refused)."""

    permission_classes = [IsCrm]

    @extend_schema(request=CampaignMessageTestSerializer, responses={201: MessageOutputSerializer})
    def post(self, request: Request, campaign_id: int, mid: int) -> Response:
        campaign_message_get(campaign_id, mid)  # 404 before the body is read
        serializer = CampaignMessageTestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = campaign_message_test_send(
            campaign_id=campaign_id,
            campaign_message_id=mid,
            actor=actor_for(request.user),
            **serializer.validated_data,
        )
        return Response(MessageOutputSerializer(message).data, status=status.HTTP_201_CREATED)


class CampaignMessagePreviewApi(APIView):
    """Render the message for one customer: the channel the fallback picks, the texts, the gate's answer."""

    permission_classes = [IsCrm]

    @extend_schema(
        parameters=[
            OpenApiParameter("customer_id", str, required=True),
            OpenApiParameter("channel", str, required=False),
        ],
        responses=PreviewSerializer,
    )
    def get(self, request: Request, campaign_id: int, mid: int) -> Response:
        campaign_message_get(campaign_id, mid)  # 404 before the query is read
        customer_id = request.query_params.get("customer_id", "")
        if not customer_id:
            raise ValidationFailed({"customer_id": ["This query parameter is required."]})
        data = campaign_message_preview(
            campaign_id=campaign_id,
            campaign_message_id=mid,
            customer_id=customer_id,
            channel=request.query_params.get("channel", ""),
        )
        return Response(PreviewSerializer(data).data)
