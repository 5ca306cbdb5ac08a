"""Partner configuration endpoints (SPEC §2): `GET/POST /partners/`, `GET/PATCH /partners/{slug}/`.

Dispatch and award endpoints live in their own modules.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import actor_for
from core.exceptions import NotFoundError
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm
from core.staff_permissions import StaffSessionModelPermissions
from partners import services
from partners.models import Partner
from partners.serializers import PartnerCreatedSerializer, PartnerSerializer

PARTNER_SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="Partner slug.")


def _partner_by_slug(slug: str) -> Partner:
    try:
        return Partner.objects.get(slug=slug)
    except Partner.DoesNotExist:
        raise NotFoundError(f"Partner {slug!r} does not exist.") from None


class PartnerListCreateApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["partners.view_partner"], "POST": ["partners.add_partner"]}
    serializer_class = PartnerSerializer
    queryset = Partner.objects.none()  # for the schema

    @extend_schema(
        summary="List partners",
        responses={200: PartnerSerializer(many=True), **error_responses(*AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(Partner.objects.order_by("slug"))
        return self.get_paginated_response(PartnerSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a partner",
        description="Without `secret` the platform generates one and returns it in this response only. "
        "URLs must be http(s) and resolve to public addresses (400 otherwise).",
        request=PartnerSerializer,
        responses={201: PartnerCreatedSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = PartnerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["secret"] = data.get("secret") or None
        created = services.partner_create(actor=actor_for(request.user), **data)
        body = PartnerSerializer(created.partner).data
        if created.generated_secret:
            body["secret"] = created.generated_secret
        return Response(body, status=status.HTTP_201_CREATED)


class PartnerDetailApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["partners.view_partner"], "PATCH": ["partners.change_partner"]}
    serializer_class = PartnerSerializer

    @extend_schema(
        summary="Read a partner",
        parameters=[PARTNER_SLUG],
        responses={200: PartnerSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(PartnerSerializer(_partner_by_slug(slug)).data)

    @extend_schema(
        summary="Change a partner",
        description="The slug cannot change. A new `secret` is never echoed back; the previous one stays "
        "valid for incoming webhooks for 24 h.",
        parameters=[PARTNER_SLUG],
        request=PartnerSerializer(partial=True),
        responses={200: PartnerSerializer, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def patch(self, request: Request, slug: str) -> Response:
        partner = _partner_by_slug(slug)
        serializer = PartnerSerializer(partner, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "secret" in data and not data["secret"]:
            data.pop("secret")  # blank means "keep the current one"
        partner = services.partner_update(partner_id=partner.pk, actor=actor_for(request.user), data=data)
        return Response(PartnerSerializer(partner).data)
