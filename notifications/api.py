"""Notification replay (crm) and device-token registration for FCM (ingest)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.permissions import IsCrm, IsIngest
from notifications.models import DeviceToken, Notification
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
