"""Outgoing webhook endpoints (SPEC §15): CRUD, test send, secret rotation, deliveries, replay."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import actor_for
from core.exceptions import NotFoundError, ValidationFailed
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm
from core.staff_permissions import StaffSessionModelPermissions
from webhooks import selectors, services
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.serializers import (
    SecretRotatedSerializer,
    TestSendSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)

VIEW = ["webhooks.view_webhookendpoint"]
CHANGE = ["webhooks.change_webhookendpoint"]
STATUS_FILTER = OpenApiParameter(
    "status", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=list(WebhookDelivery.Status.values)
)


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.get(pk=endpoint_id)
    except WebhookEndpoint.DoesNotExist:
        raise NotFoundError(f"Webhook endpoint {endpoint_id} does not exist.") from None


class WebhookEndpointListCreateApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": VIEW, "POST": ["webhooks.add_webhookendpoint"]}
    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.none()

    @extend_schema(
        summary="List webhook endpoints",
        responses={200: WebhookEndpointSerializer(many=True), **error_responses(*AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.endpoint_list())
        return self.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a webhook endpoint",
        description="Returns the `whsec_…` secret once. The URL must be http(s) and resolve to public "
        "addresses (400 otherwise).",
        request=WebhookEndpointSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = services.webhook_endpoint_create(actor=actor_for(request.user), **serializer.validated_data)
        body = WebhookEndpointSerializer(created.endpoint).data
        body["secret"] = created.secret
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": VIEW, "PATCH": CHANGE, "DELETE": ["webhooks.delete_webhookendpoint"]}
    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.none()

    @extend_schema(
        summary="Read a webhook endpoint",
        responses={200: WebhookEndpointSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        return Response(WebhookEndpointSerializer(_endpoint(endpoint_id)).data)

    @extend_schema(
        summary="Change a webhook endpoint",
        request=WebhookEndpointSerializer(partial=True),
        responses={200: WebhookEndpointSerializer, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = _endpoint(endpoint_id)
        serializer = WebhookEndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            endpoint_id=endpoint.pk, actor=actor_for(request.user), data=dict(serializer.validated_data)
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Delete a webhook endpoint (and its deliveries)",
        responses={204: None, **error_responses(404, *AUTH_ERRORS)},
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.webhook_endpoint_delete(endpoint_id=_endpoint(endpoint_id).pk, actor=actor_for(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointTestApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": CHANGE}
    serializer_class = TestSendSerializer

    @extend_schema(
        summary="Send a webhook.test to the endpoint now",
        description="One signed attempt; answers with the endpoint's status code and the latency. Works "
        "on a disabled endpoint too; never counts as the endpoint failing.",
        request=None,
        responses={200: TestSendSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        result = services.webhook_endpoint_test(
            endpoint_id=_endpoint(endpoint_id).pk, actor=actor_for(request.user)
        )
        return Response(
            TestSendSerializer(
                {
                    "delivery_id": result.delivery.id,
                    "ok": result.ok,
                    "status_code": result.status_code,
                    "latency_ms": result.latency_ms,
                    "error": result.error,
                }
            ).data
        )


class WebhookEndpointRotateSecretApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": CHANGE}
    serializer_class = SecretRotatedSerializer

    @extend_schema(
        summary="Rotate the endpoint's secret",
        description="Returns the new secret once. For 24 h every request is signed with both secrets "
        "(two signatures in `webhook-signature`).",
        request=None,
        responses={200: SecretRotatedSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        rotated = services.webhook_endpoint_rotate_secret(
            endpoint_id=_endpoint(endpoint_id).pk, actor=actor_for(request.user)
        )
        return Response(
            SecretRotatedSerializer(
                {
                    "id": rotated.endpoint.pk,
                    "secret": rotated.secret,
                    "previous_secret_expires_at": rotated.endpoint.previous_secret_expires_at,
                }
            ).data
        )


class WebhookEndpointDeliveriesApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["webhooks.view_webhookdelivery"]}
    serializer_class = WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.none()

    @extend_schema(
        summary="The endpoint's deliveries, newest first, with their attempts",
        parameters=[STATUS_FILTER],
        responses={200: WebhookDeliverySerializer(many=True), **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = _endpoint(endpoint_id)
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in WebhookDelivery.Status.values:
            raise ValidationFailed(
                {"status": [f"Must be one of {', '.join(WebhookDelivery.Status.values)}."]}
            )
        page = self.paginate_queryset(selectors.endpoint_deliveries(endpoint_id=endpoint.pk, status=wanted))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class WebhookDeliveryReplayApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["webhooks.replay_webhookdelivery"]}
    serializer_class = WebhookDeliverySerializer

    @extend_schema(
        summary="Send a delivery again",
        description="A sent or dead delivery is queued again with the same `webhook-id` and a fresh attempt "
        "budget. 409 while it is still being delivered, or when its endpoint is disabled.",
        request=None,
        responses={200: WebhookDeliverySerializer, **error_responses(404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, delivery_id: uuid.UUID) -> Response:
        row = services.webhook_delivery_replay(delivery_id=delivery_id, actor=actor_for(request.user))
        return Response(WebhookDeliverySerializer(row).data)
