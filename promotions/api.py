"""Thin views of promo codes and redemptions (SPEC §12): parse, call a service or selector, render."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.exceptions import ValidationFailed
from core.openapi import AUTH_ERRORS, error_responses
from core.permissions import IsCrm, IsIngest
from core.staff_permissions import StaffSessionModelPermissions
from promotions import selectors, services
from promotions.validation import (
    parse_code_request,
    parse_idempotency_key,
    parse_redemption_request,
    parse_rollback_reason,
)
from purchases.api import DecimalJSONParser

VIEW_CODE = "promotions.view_promocode"
ADD_BATCH = "promotions.add_codebatch"
CHANGE_REDEMPTION = "promotions.change_redemption"
REDEMPTION_ERRORS = error_responses(400, 404, 409, *AUTH_ERRORS)


class CodeValidateApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [VIEW_CODE]}
    parser_classes = [DecimalJSONParser]

    @extend_schema(
        summary="Validate a promo code for an order (no side effect)",
        description='`{"code", "customer_id", "order": {"total"?, "currency", "items"}}` → `{"valid", '
        '"reason"?, "discount"}`. Reasons in the order checked: code_not_found, code_inactive, code_expired, '
        "code_not_started, code_exhausted, customer_limit_reached, customer_not_eligible, below_minimum, "
        "campaign_not_active, budget_exhausted. An order in another currency than the code's is 400.",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        check = services.code_validate(request=parse_code_request(request.data))
        return Response(check.as_response())


class RedemptionCreateApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE_REDEMPTION]}
    parser_classes = [DecimalJSONParser]

    @extend_schema(
        summary="Reserve (or commit at once) a use of a promo code",
        description="`Idempotency-Key` header required. Body: the validate body plus `order_ref`, `mode` "
        "(`reserve` default, or `commit`) and `ttl_seconds` (reservations: default 900, at most 3600). 201 "
        '`{"id", "status", "discount", "expires_at"}`; the same key and body again → the same answer; the '
        "same key with another body → 409 `idempotency_conflict`; a code that cannot be used → 409 with the "
        "reason as the error code.",
        parameters=[
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)
        ],
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT, **REDEMPTION_ERRORS},
    )
    def post(self, request: Request) -> Response:
        key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
        redemption, _created = services.redemption_create(
            actor=actor_for(request.user), idempotency_key=key, request=parse_redemption_request(request.data)
        )
        return Response(selectors.redemption_data(redemption), status=status.HTTP_201_CREATED)


class RedemptionDetailApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [CHANGE_REDEMPTION]}

    @extend_schema(summary="Read a redemption", responses={200: OpenApiTypes.OBJECT, **REDEMPTION_ERRORS})
    def get(self, request: Request, redemption_id: int) -> Response:
        return Response(selectors.redemption_data(selectors.redemption_get(redemption_id=redemption_id)))


class RedemptionCommitApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE_REDEMPTION]}

    @extend_schema(
        summary="Commit a reservation",
        description="200 with the redemption; committing twice is harmless. An expired or rolled back "
        "reservation → 409 (`reservation_expired`, `redemption_rolled_back`).",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **REDEMPTION_ERRORS},
    )
    def post(self, request: Request, redemption_id: int) -> Response:
        redemption = services.redemption_commit(actor=actor_for(request.user), redemption_id=redemption_id)
        return Response(selectors.redemption_data(redemption))


class RedemptionRollbackApi(APIView):
    permission_classes = [IsIngest, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [CHANGE_REDEMPTION]}

    @extend_schema(
        summary="Roll back a reservation or a committed redemption (the use is given back)",
        description='`{"reason"}` (optional). 409 `redemption_settled` when already rolled back or expired.',
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, **REDEMPTION_ERRORS},
    )
    def post(self, request: Request, redemption_id: int) -> Response:
        redemption = services.redemption_rollback(
            actor=actor_for(request.user),
            redemption_id=redemption_id,
            reason=parse_rollback_reason(request.data),
        )
        return Response(selectors.redemption_data(redemption))


def _optional_int(data: dict, key: str, errors: dict, default: Any = None) -> int | None:
    if key not in data:
        return default
    value = data[key]
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | Decimal)
        or value != int(value)
        or not (1 <= value < 2**31)
    ):
        errors[key] = ["A whole number ≥ 1 (or null for unlimited) is required."]
        return None
    return int(value)


def _optional_datetime(data: dict, key: str, errors: dict) -> datetime | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        errors[key] = ["An ISO 8601 date-time with a time zone is required."]
        return None
    return parsed


def _text(data: dict, key: str, errors: dict, default: str) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        errors[key] = ["Must be a string."]
        return default
    return value


def batch_input(data: Any) -> services.BatchInput:
    if not isinstance(data, dict):
        raise ValidationFailed({"non_field_errors": ["Expected a JSON object."]})
    errors: dict[str, list[str]] = {}
    count = data.get("count")
    if isinstance(count, bool) or not isinstance(count, int | Decimal) or count != int(count):
        errors["count"] = ["A whole number of codes is required."]
        count = 0
    min_order_value = data.get("min_order_value")
    if min_order_value is not None:
        try:
            min_order_value = Decimal(str(min_order_value))
            if not min_order_value.is_finite() or min_order_value >= Decimal(10) ** 14:
                raise ArithmeticError
        except ArithmeticError:
            errors["min_order_value"] = ["A decimal number is required."]
            min_order_value = None
    valid_until = _optional_datetime(data, "valid_until", errors) or _optional_datetime(
        data, "expires_at", errors
    )
    result = services.BatchInput(
        count=int(count),
        pattern=_text(data, "pattern", errors, services.DEFAULT_PATTERN),
        charset=_text(data, "charset", errors, services.DEFAULT_CHARSET),
        prefix=_text(data, "prefix", errors, ""),
        postfix=_text(data, "postfix", errors, ""),
        max_redemptions=_optional_int(data, "max_redemptions", errors, default=1),
        per_customer_limit=_optional_int(data, "per_customer_limit", errors),
        valid_from=_optional_datetime(data, "valid_from", errors),
        valid_until=valid_until,
        benefit=data.get("benefit"),
        min_order_value=min_order_value,
    )
    if errors:
        raise ValidationFailed(errors)
    return result


class CodeGenerateApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": [ADD_BATCH]}
    parser_classes = [DecimalJSONParser]

    @extend_schema(
        summary="Generate a batch of promo codes (a job)",
        description='`{"count", "pattern"?, "charset"?, "prefix"?, "postfix"?, "max_redemptions"?, '
        '"per_customer_limit"?, "valid_from"?, "valid_until"?, "min_order_value"?, "benefit"}` → 202 '
        '`{"job": {"id", "status", "progress"}}`; poll `GET /jobs/{id}/`. A pattern whose space is < 100 × the '
        "codes that would exist in it is 400.",
        request=OpenApiTypes.OBJECT,
        responses={202: OpenApiTypes.OBJECT, **error_responses(400, 404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        selectors.campaign_get(campaign_id=campaign_id)  # 404 before the body is read
        batch = services.code_batch_create(
            actor=actor_for(request.user), campaign_id=campaign_id, data=batch_input(request.data)
        )
        return Response(
            {"job": selectors.job_data(batch.job), "batch_id": batch.pk}, status=status.HTTP_202_ACCEPTED
        )


class JobDetailApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [ADD_BATCH]}

    @extend_schema(
        summary="A job's status and progress",
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, job_id: int) -> Response:
        return Response(selectors.job_data(services.job_get(job_id=job_id)))


class CodeListApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CODE]}

    @extend_schema(
        summary="List promo codes (filter `campaign`; paginated)",
        parameters=[OpenApiParameter("campaign", OpenApiTypes.INT, OpenApiParameter.QUERY)],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.code_list(campaign=request.query_params.get("campaign")))
        return self.get_paginated_response([selectors.code_data(code) for code in page])


class CodeExportApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": [VIEW_CODE]}

    @extend_schema(
        summary="Export a campaign's codes as CSV (streamed)",
        responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> StreamingHttpResponse:
        rows = selectors.campaign_codes_csv(campaign_id=campaign_id)
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign_id}-codes.csv"'
        return response
