"""Thin views of customers, events and segments (SPEC §11): parse, call a service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.exceptions import ApplicationError
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm, IsIngest
from core.staff_permissions import StaffSessionModelPermissions
from customers import selectors, services
from customers.openapi import DefinitionField

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
        operation_id="customers_list",
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
        "written: `email`, `phone` (international form, validated with phonenumbers and stored in E.164), `locale` (BCP 47), `timezone` (IANA), `country` (ISO 3166-1 "
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

    @extend_schema(
        summary="Erase a customer (privacy)",
        description="Personal fields and events are erased; purchases, evaluations, dispatches and awards are "
        "kept with the customer id replaced by a salted hash, so campaign figures still add up. 204; an audit "
        "event `customer.erased` names the pseudonym.",
        parameters=[CUSTOMER_ID],
        responses={204: OpenApiResponse(description="Erased."), **error_responses(404, *AUTH_ERRORS)},
    )
    def delete(self, request: Request, customer_id: str) -> Response:
        services.customer_erase(customer_id=customer_id, actor=actor_for(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CustomerExportApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CUSTOMER]}

    @extend_schema(
        summary="Everything the brand holds about a customer (privacy export)",
        parameters=[CUSTOMER_ID],
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(selectors.customer_export(customer_id=customer_id))


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


# --- Segments

SEGMENT_ID = OpenApiParameter(
    "segment_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Segment id."
)
VIEW_SEGMENT = "customers.view_segment"
CHANGE_SEGMENT = "customers.change_segment"


class SegmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=["dynamic", "static"], default="dynamic")
    definition = DefinitionField(required=False, default=dict)


class PreviewInputSerializer(serializers.Serializer):
    definition = DefinitionField()


class PreviewSerializer(serializers.Serializer):
    estimate = serializers.IntegerField()
    ci95 = serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2)
    sample = serializers.ListField(child=serializers.CharField())
    sampled = serializers.IntegerField(help_text="Customers in the buckets read.")
    population = serializers.IntegerField(help_text="Customers of the brand.")


class SegmentListApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_SEGMENT], "POST": ["customers.add_segment"]}

    @extend_schema(
        summary="List segments", operation_id="segments_list", responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.segment_list())
        return self.get_paginated_response([selectors.segment_data(s) for s in page])

    @extend_schema(
        summary="Create a segment",
        description="`dynamic` (a definition in the DSL) or `static` (members uploaded as CSV).",
        request=SegmentInputSerializer,
        responses={201: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = SegmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        segment = services.segment_create(actor=actor_for(request.user), **serializer.validated_data)
        return Response(selectors.segment_data(segment), status=status.HTTP_201_CREATED)


class SegmentDetailApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {
        "GET": [VIEW_SEGMENT],
        "PATCH": [CHANGE_SEGMENT],
        "DELETE": ["customers.delete_segment"],
    }

    @extend_schema(
        operation_id="segments_read",
        summary="Read a segment with its size history",
        parameters=[SEGMENT_ID],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, segment_id: int) -> Response:
        return Response(selectors.segment_data(selectors.segment_get(segment_id=segment_id), history=100))

    @extend_schema(
        summary="Rename or redefine a segment",
        parameters=[SEGMENT_ID],
        request=SegmentInputSerializer(partial=True),
        responses={200: OpenApiTypes.OBJECT},
    )
    def patch(self, request: Request, segment_id: int) -> Response:
        serializer = SegmentInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        segment = services.segment_update(
            segment_id=segment_id, data=dict(serializer.validated_data), actor=actor_for(request.user)
        )
        return Response(selectors.segment_data(segment))

    @extend_schema(
        summary="Delete a segment (409 while campaigns target it)",
        parameters=[SEGMENT_ID],
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def delete(self, request: Request, segment_id: int) -> Response:
        services.segment_delete(segment_id=segment_id, actor=actor_for(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentPreviewApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [VIEW_SEGMENT]}

    @extend_schema(
        summary="Estimate a definition's size",
        description="Answered from a random sample of customers (the lowest of their stable random buckets): "
        "the estimate, its 95 % interval and up to 10 matching customer ids.",
        request=PreviewInputSerializer,
        responses={200: PreviewSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = PreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            selectors.segment_preview(definition=serializer.validated_data["definition"]).as_response()
        )


class SegmentComputeApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE_SEGMENT]}

    @extend_schema(
        summary="Count a segment exactly (a job)",
        description="202: the count runs as a job; `size`, `computed_at` and the size history show it.",
        parameters=[SEGMENT_ID],
        request=None,
        responses={202: OpenApiTypes.OBJECT, **error_responses(404, *AUTH_ERRORS)},
    )
    def post(self, request: Request, segment_id: int) -> Response:
        segment = services.segment_compute_request(segment_id=segment_id, actor=actor_for(request.user))
        return Response(
            {**selectors.segment_data(segment), "status": "computing"}, status=status.HTTP_202_ACCEPTED
        )


class SegmentMembersApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_SEGMENT]}

    @extend_schema(
        summary="A segment's customers (paginated)",
        parameters=[SEGMENT_ID],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, segment_id: int) -> Response:
        segment = selectors.segment_get(segment_id=segment_id)
        page = self.paginate_queryset(selectors.segment_members(segment=segment))
        return self.get_paginated_response([selectors.customer_data(c, with_stats=False) for c in page])


class CsvBodyParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read() if stream is not None else b""


class SegmentMembersImportApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE_SEGMENT]}
    parser_classes = [CsvBodyParser, MultiPartParser, FormParser]

    @extend_schema(
        summary="Replace a static segment's members with a CSV of customer ids",
        description="`text/csv` body or multipart `file`: one customer_id per row (header `customer_id` "
        "optional). All or nothing: row errors are reported in `error.fields.file`.",
        parameters=[SEGMENT_ID],
        request={"text/csv": OpenApiTypes.BINARY, "multipart/form-data": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, segment_id: int) -> Response:
        selectors.segment_get(segment_id=segment_id)  # an unknown segment is 404 whatever the body
        content = request.data if isinstance(request.data, bytes) else None
        if content is None:
            upload = request.FILES.get("file")
            if upload is None:
                raise ApplicationError(
                    "Send the CSV as the body (text/csv) or as a `file` upload.",
                    fields={"file": ["Required."]},
                )
            content = upload.read()
        result = services.segment_members_import_csv(
            segment_id=segment_id, content=content, actor=actor_for(request.user)
        )
        return Response({"members": result.members, "created_customers": result.created_customers})
