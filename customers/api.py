"""Thin views of customers, events and segments (SPEC §11): parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.exceptions import ApplicationError
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm, IsIngest
from core.staff_permissions import StaffSessionModelPermissions
from customers import selectors, services

CUSTOMER_ID = OpenApiParameter(
    "customer_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The brand's customer id."
)
VIEW_CUSTOMER = "customers.view_customer"
CHANGE_CUSTOMER = "customers.change_customer"


def _list_of(data: Any, key: str) -> list:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ApplicationError(
            f'The body must be {{"{key}": [...]}}.', code="invalid", fields={key: ["Expected a list."]}
        )
    return items


class CustomerListApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CUSTOMER]}

    @extend_schema(
        summary="List customers (paginated, by customer_id)",
        responses={200: OpenApiTypes.OBJECT, **error_responses(*AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.customer_list())
        return self.get_paginated_response([selectors.customer_data(c) for c in page])


class CustomerBatchApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE_CUSTOMER]}

    @extend_schema(
        summary="Create or update up to 1000 customers",
        description='`{"customers": [{"customer_id", ...}]}` → 202 `{"results": [{"customer_id", "status": '
        '"created"|"updated"|"invalid", "errors"?}]}` in request order; a bad item never rejects the good ones. '
        "Only the fields sent are written; `attributes` merge key by key (null removes a key).",
        request=OpenApiTypes.OBJECT,
        responses={202: OpenApiTypes.OBJECT, **error_responses(400, 413, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        results = services.customers_upsert(
            bodies=_list_of(request.data, "customers"), actor=actor_for(request.user)
        )
        return Response({"results": [r.as_response_item() for r in results]}, status=status.HTTP_202_ACCEPTED)


class CustomerDetailApi(APIView):
    """GET (crm): the customer with stats · PUT (ingest): upsert · DELETE (crm): erase (privacy)."""

    required_model_permissions = {
        "GET": [VIEW_CUSTOMER],
        "PUT": [CHANGE_CUSTOMER],
        "DELETE": ["customers.delete_customer"],
    }

    def get_permissions(self):
        role = IsIngest() if self.request.method == "PUT" else IsCrm()
        return [role, StaffSessionModelPermissions()]

    @extend_schema(
        summary="Read a customer with their stats",
        parameters=[CUSTOMER_ID],
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(selectors.customer_data(selectors.customer_get(customer_id=customer_id)))

    @extend_schema(
        summary="Create or update a customer (ingest)",
        description="201 with the customer when it was new, 200 when it existed. Only the fields sent are "
        "written: `email`, `phone` (E.164), `locale` (BCP 47), `timezone` (IANA), `country` (ISO 3166-1 "
        "alpha-2), `lat`/`lon`, `attributes` (merged key by key; null removes a key).",
        parameters=[CUSTOMER_ID],
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def put(self, request: Request, customer_id: str) -> Response:
        customer, created = services.customer_upsert(
            customer_id=customer_id, body=request.data, actor=actor_for(request.user)
        )
        return Response(
            selectors.customer_data(customer),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class EventCreateApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["customers.add_event"]}

    @extend_schema(
        summary="Record one event",
        description='`{"event_id", "customer_id", "name", "properties", "occurred_at"}` → 202 `{"event_id", '
        '"status": "accepted"}`; a replayed `event_id` → 200 `{"event_id", "status": "duplicate"}`.',
        request=OpenApiTypes.OBJECT,
        responses={202: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        result = services.event_ingest(body=request.data)
        code = status.HTTP_202_ACCEPTED if result.status == services.ACCEPTED else status.HTTP_200_OK
        return Response(result.as_response_item(), status=code)


class EventBatchApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["customers.add_event"]}

    @extend_schema(
        summary="Record up to 1000 events",
        description='`{"events": [...]}` → 202 `{"results": [{"event_id", "status": "accepted"|"duplicate"|'
        '"invalid", "errors"?}]}` in request order; over 1000 → 413.',
        request=OpenApiTypes.OBJECT,
        responses={202: OpenApiTypes.OBJECT, **error_responses(400, 413, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        results = services.events_ingest(bodies=_list_of(request.data, "events"))
        return Response({"results": [r.as_response_item() for r in results]}, status=status.HTTP_202_ACCEPTED)
