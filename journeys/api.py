"""Thin views of journeys (SPEC §19): list/create, read/edit, activate, pause, enrollments, enroll."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm, IsIngest
from core.staff_permissions import StaffSessionModelPermissions
from journeys import selectors, services
from journeys.serializers import EnrollSerializer, JourneyInputSerializer

JOURNEY_ID = OpenApiParameter("journey_id", OpenApiTypes.INT, OpenApiParameter.PATH)
VIEW, CHANGE = "journeys.view_journey", "journeys.change_journey"


class JourneyListApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW], "POST": ["journeys.add_journey"]}

    @extend_schema(
        operation_id="journeys_list",
        summary="List journeys (paginated; filter `status`)",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=["draft", "active", "paused"])],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.journey_list(status=request.query_params.get("status")))
        return self.get_paginated_response([selectors.journey_data(j) for j in page])

    @extend_schema(
        summary="Create a journey (status draft)",
        description="Entry (a segment's membership or an event name), `re_entry` (`never` | `after_days` "
        "with `re_entry_days`), `exit_event`, `campaign`, and the steps in order. 201 with the journey.",
        request=JourneyInputSerializer,
        responses={201: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = JourneyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        journey = services.journey_create(data=dict(serializer.validated_data), actor=actor_for(request.user))
        return Response(selectors.journey_data(journey), status=status.HTTP_201_CREATED)


class JourneyDetailApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW], "PATCH": [CHANGE]}

    @extend_schema(
        operation_id="journeys_read",
        summary="Read a journey with its counts per step",
        parameters=[JOURNEY_ID],
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, journey_id: int) -> Response:
        journey = selectors.journey_get(journey_id=journey_id)
        return Response(selectors.journey_data(journey, with_counts=True))

    @extend_schema(
        summary="Edit a journey",
        description="New `steps` of a journey that is active or has enrollments become a new version; "
        "enrollments keep the version they entered with.",
        parameters=[JOURNEY_ID],
        request=JourneyInputSerializer(partial=True),
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def patch(self, request: Request, journey_id: int) -> Response:
        serializer = JourneyInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        journey = services.journey_update(
            journey_id=journey_id, data=dict(serializer.validated_data), actor=actor_for(request.user)
        )
        return Response(selectors.journey_data(journey, with_counts=True))


class JourneyActivateApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE]}

    @extend_schema(
        summary="Activate a journey (draft or paused → active)",
        parameters=[JOURNEY_ID],
        request=None,
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, journey_id: int) -> Response:
        journey = services.journey_activate(journey_id=journey_id, actor=actor_for(request.user))
        return Response(selectors.journey_data(journey))


class JourneyPauseApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE]}

    @extend_schema(
        summary="Pause a journey (active → paused): no entries, no steps run",
        parameters=[JOURNEY_ID],
        request=None,
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, journey_id: int) -> Response:
        journey = services.journey_pause(journey_id=journey_id, actor=actor_for(request.user))
        return Response(selectors.journey_data(journey))


class JourneyEnrollmentsApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW]}

    @extend_schema(
        summary="A journey's enrollments (paginated; filter `state`, `customer_id`) with their step history",
        parameters=[
            JOURNEY_ID,
            OpenApiParameter("state", OpenApiTypes.STR, enum=["active", "waiting", "completed", "exited"]),
            OpenApiParameter("customer_id", OpenApiTypes.STR),
        ],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, journey_id: int) -> Response:
        journey = selectors.journey_get(journey_id=journey_id)
        enrollments = selectors.enrollment_list(
            journey=journey,
            state=request.query_params.get("state"),
            customer_id=request.query_params.get("customer_id"),
        )
        page = self.paginate_queryset(enrollments)
        return self.get_paginated_response([selectors.enrollment_data(e, with_history=True) for e in page])


class JourneyEnrollApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE]}

    @extend_schema(
        summary="Enrol a customer (ingest)",
        description='`{"customer_id"}` → 201 with the new enrollment; 200 with the live one when the customer '
        "is already on the journey; 409 `re_entry_not_allowed` when the re-entry rule keeps them out, "
        "409 `journey_not_active` unless the journey is active.",
        parameters=[JOURNEY_ID],
        request=EnrollSerializer,
        responses={
            201: OpenApiTypes.OBJECT,
            200: OpenApiTypes.OBJECT,
            **error_responses(400, 404, 409, *AUTH_ERRORS),
        },
    )
    def post(self, request: Request, journey_id: int) -> Response:
        serializer = EnrollSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrollment, created = services.journey_enroll(
            journey_id=journey_id,
            customer_id=serializer.validated_data["customer_id"],
            actor=actor_for(request.user),
        )
        return Response(
            selectors.enrollment_data(enrollment),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
