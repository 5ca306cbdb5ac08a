"""Thin views of the purchase API (SPEC §2): parse, call a service or selector, render."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import actor_for
from core.exceptions import ApplicationError
from core.permissions import IsIngest, IsIngestOrCrm
from purchases import serializers as docs
from purchases.selectors import purchase_detail, purchase_get
from purchases.services import purchase_ingest, purchase_refund, purchases_ingest


def _reject_constant(name: str) -> Any:
    raise ParseError(f"JSON parse error - {name} is not a number.")


class DecimalJSONParser(JSONParser):
    """JSON with every non-integer number parsed as an exact Decimal: money never becomes a float."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return json.loads(
                stream.read().decode(encoding), parse_float=Decimal, parse_constant=_reject_constant
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


class PurchaseCreateApi(APIView):
    permission_classes = [IsIngest]
    parser_classes = [DecimalJSONParser]

    @extend_schema(
        request=docs.PurchaseInputSerializer,
        responses={
            202: docs.PurchaseAcceptedSerializer,
            200: OpenApiResponse(
                docs.PurchaseDetailSerializer, description="Duplicate: the stored purchase."
            ),
            409: OpenApiResponse(description="Same external_id, different body."),
        },
    )
    def post(self, request: Request) -> Response:
        result, created = purchase_ingest(body=request.data)
        if created:
            return Response(
                {"external_id": result.external_id, "status": "accepted"}, status=status.HTTP_202_ACCEPTED
            )
        return Response(purchase_detail(purchase=purchase_get(external_id=result.external_id)))


class PurchaseBatchApi(APIView):
    permission_classes = [IsIngest]
    parser_classes = [DecimalJSONParser]

    def get_permissions(self):
        # GET here is the detail of a purchase whose external_id is literally "batch".
        return [IsIngestOrCrm()] if self.request.method == "GET" else super().get_permissions()

    @extend_schema(
        request=docs.PurchaseBatchInputSerializer,
        responses={
            202: docs.PurchaseBatchResultSerializer,
            413: OpenApiResponse(description="More than 1000 purchases."),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data
        purchases = data.get("purchases") if isinstance(data, dict) else None
        if not isinstance(purchases, list):
            raise ApplicationError(
                'The body must be {"purchases": [...]}.',
                code="invalid",
                fields={"purchases": ["Expected a list of purchases."]},
            )
        results = purchases_ingest(bodies=purchases)
        return Response(
            {"results": [result.as_response_item() for result in results]}, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(purchase_detail(purchase=purchase_get(external_id="batch")))


class PurchaseDetailApi(APIView):
    permission_classes = [IsIngestOrCrm]

    @extend_schema(responses={200: docs.PurchaseDetailSerializer})
    def get(self, request: Request, external_id: str) -> Response:
        return Response(purchase_detail(purchase=purchase_get(external_id=external_id)))


IDEMPOTENCY_KEY_MAX_LENGTH = 200


class PurchaseRefundApi(APIView):
    """`POST /purchases/{external_id}/refund/` (SPEC §12): a whole or partial refund, re-evaluated."""

    permission_classes = [IsIngest]
    parser_classes = [DecimalJSONParser]

    def get_permissions(self):
        # GET here is the detail of a purchase whose external_id itself ends in "/refund".
        return [IsIngestOrCrm()] if self.request.method == "GET" else super().get_permissions()

    @extend_schema(
        request=docs.RefundInputSerializer,
        responses={
            200: docs.RefundResultSerializer,
            400: OpenApiResponse(description="A line the purchase does not have, or more than was bought."),
            404: OpenApiResponse(description="No such purchase."),
            409: OpenApiResponse(
                description="More than is left after earlier refunds (or nothing left), the purchase is "
                "not evaluated yet, or the Idempotency-Key was used with another body."
            ),
        },
    )
    def post(self, request: Request, external_id: str) -> Response:
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
            raise ApplicationError(
                "The Idempotency-Key header is too long.",
                code="invalid",
                fields={"Idempotency-Key": [f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]},
            )
        answer, _replayed = purchase_refund(
            actor=actor_for(request.user),
            external_id=external_id,
            body=request.data if request.body else None,
            idempotency_key=key,
        )
        return Response(answer)

    @extend_schema(exclude=True)
    def get(self, request: Request, external_id: str) -> Response:
        return Response(purchase_detail(purchase=purchase_get(external_id=f"{external_id}/refund")))
