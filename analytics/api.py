"""Thin views of analytics (SPEC §16): campaign metrics, the performance report (JSON, CSV), cohorts."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors, services
from campaigns.models import Campaign
from core.actors import actor_for
from core.exceptions import NotFoundError, ValidationFailed
from core.money import quantum_for
from core.openapi import AUTH_ERRORS, error_responses
from core.pagination import PagePagination
from core.permissions import IsCrm
from core.staff_permissions import StaffSessionModelPermissions

MAX_DAYS = 3 * 366
FROM = OpenApiParameter("from", OpenApiTypes.DATE, description="First UTC day (default: 30 days ago).")
TO = OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day, inclusive (default: today).")


class CsvRenderer(BaseRenderer):
    """Lets `?format=csv` / `Accept: text/csv` through content negotiation; the view streams the body."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return b"" if data is None else str(data).encode()


def _day(value: str | None, name: str, default: date) -> date:
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(value[:10]) if len(value) > 10 else date.fromisoformat(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            raise ValidationFailed({name: ["Expected a date like 2026-01-31."]}) from None


def _range(request: Request) -> tuple[date, date]:
    today = timezone.now().date()
    end = _day(request.query_params.get("to"), "to", today)
    start = _day(request.query_params.get("from"), "from", end - timedelta(days=29))
    if end < start:
        raise ValidationFailed({"to": ["`to` must not be before `from`."]})
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed({"from": [f"At most {MAX_DAYS} days at once."]})
    return start, end


class CampaignMetricsApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["campaigns.view_campaign"]}

    @extend_schema(
        summary="A campaign's metrics by day, week or month",
        description="Rows of `period_start, impressions, clicks, conversions, revenue, cost, ctr, "
        "conversion_rate, cpc, cpa, roas, roi` (UTC periods; weeks start on Monday). Ratios are `null` when "
        "their divisor is 0. Optional `variant` (an experiment's variant key; empty for no variant).",
        parameters=[
            FROM,
            TO,
            OpenApiParameter("granularity", OpenApiTypes.STR, enum=list(selectors.GRANULARITIES)),
            OpenApiParameter("variant", OpenApiTypes.STR),
        ],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise NotFoundError(f"No campaign {campaign_id}.", code="not_found")
        granularity = request.query_params.get("granularity") or "day"
        if granularity not in selectors.GRANULARITIES:
            raise ValidationFailed({"granularity": ["Expected day, week or month."]})
        start, end = _range(request)
        rows = selectors.campaign_metrics(campaign=campaign, start=start, end=end, granularity=granularity,
                                          variant=request.query_params.get("variant"))  # fmt: skip
        return Response({"campaign_id": campaign.pk, "currency": campaign.currency, "from": start.isoformat(),
                         "to": end.isoformat(), "granularity": granularity, "rows": rows})  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


class PerformanceReportApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["campaigns.view_campaign"]}
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        summary="Performance of every campaign (JSON, or CSV with ?format=csv)",
        description="One row per campaign with its totals over the days and the ratios of the metrics "
        "endpoint, biggest revenue first. CSV is streamed with a header row.",
        parameters=[FROM, TO, OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"])],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        start, end = _range(request)
        rows = selectors.performance_report(start=start, end=end)
        if request.accepted_renderer.format == "csv":
            return self._csv(rows, start, end)
        return Response(
            {"from": start.isoformat(), "to": end.isoformat(), "rows": [r.as_dict() for r in rows]}
        )

    def _csv(self, rows: Iterator[selectors.ReportRow], start: date, end: date) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield writer.writerow(selectors.REPORT_COLUMNS)
            for row in rows:
                data = row.as_dict()
                yield writer.writerow(["" if data[c] is None else data[c] for c in selectors.REPORT_COLUMNS])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="performance-{start}-{end}.csv"'
        return response


class CohortReportApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["campaigns.view_campaign"]}

    @extend_schema(
        summary="Retention cohorts by first purchase week",
        description="`by=first_purchase_week` (the only grouping), `periods` later weeks (1–52, default 8). "
        "Each cohort: `cohort` (Monday of the week), `size`, `retention` — the share of the cohort that "
        "purchased again in each later week, `null` for weeks not started yet. Cohorts of the weeks in "
        "`from`…`to` (default the last 12 weeks).",
        parameters=[
            OpenApiParameter("by", OpenApiTypes.STR, enum=["first_purchase_week"]),
            OpenApiParameter("periods", OpenApiTypes.INT),
            FROM,
            TO,
        ],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        by = request.query_params.get("by") or "first_purchase_week"
        if by != "first_purchase_week":
            raise ValidationFailed({"by": ["Only first_purchase_week is supported."]})
        raw = request.query_params.get("periods") or "8"
        if not raw.isdigit() or not 1 <= int(raw) <= 52:
            raise ValidationFailed({"periods": ["Expected a whole number from 1 to 52."]})
        today = timezone.now().date()
        end = _day(request.query_params.get("to"), "to", today)
        start = _day(request.query_params.get("from"), "from", end - timedelta(weeks=12))
        if end < start:
            raise ValidationFailed({"to": ["`to` must not be before `from`."]})
        periods = int(raw)
        return Response({"by": by, "periods": periods,
                         "cohorts": selectors.cohorts(start=start, end=end, periods=periods)})  # fmt: skip


# --------------------------------------------------------------------------- forecasts, allocations, insights


class ForecastRequestSerializer(serializers.Serializer):
    spend = serializers.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal("0.0001"))
    horizon_days = serializers.IntegerField(min_value=1, max_value=366)


class AllocationCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField(min_value=1)
    min = serializers.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal(0), required=False)
    max = serializers.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal(0), required=False)


class AllocationRequestSerializer(serializers.Serializer):
    total = serializers.DecimalField(max_digits=18, decimal_places=4, min_value=Decimal("0.0001"))
    horizon_days = serializers.IntegerField(min_value=1, max_value=366, required=False, default=30)
    campaigns = AllocationCampaignSerializer(many=True, allow_empty=False)


def _campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFoundError(f"No campaign {campaign_id}.", code="not_found")
    return campaign


class CampaignForecastApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["campaigns.view_campaign"]}

    @extend_schema(
        summary="Forecast a campaign's revenue and ROI for a spend",
        description="`spend` (money, > 0) over `horizon_days` (1–366) → `pessimistic`, `baseline`, `optimistic` "
        "(P10, P50, P90 of a seeded bootstrap), each with `revenue`, `roi`, `marginal_roas`, `saturation_spend` "
        "and `drivers` (`name`, `value`, `text`). Fitted on the campaign's daily spend and revenue of the last "
        "year as a diminishing-returns curve (`method` `diminishing_returns`); under 14 days of spend it is the "
        "brand's average return with a band of at least ±50 % (`fallback` true, `reason` says so). Nothing is "
        "stored.",
        request=ForecastRequestSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(campaign_id)
        serializer = ForecastRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        spend = serializer.validated_data["spend"]
        places = -quantum_for(campaign.currency).as_tuple().exponent
        if -spend.normalize().as_tuple().exponent > places:
            raise ValidationFailed(
                {"spend": [f"{campaign.currency} amounts have at most {places} decimals."]}
            )
        return Response(selectors.campaign_forecast(campaign=campaign, spend=spend,
                                                    horizon_days=serializer.validated_data["horizon_days"]))  # fmt: skip


class CampaignInsightsApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["campaigns.view_campaign"]}

    @extend_schema(
        summary="A campaign's performance in plain words",
        description="`summary`, `strengths`, `weaknesses`, `suggestions` (each `code`, `text`) by rules from the "
        "metrics of `from`…`to` (default the last 30 days) against the brand's, its spend budget and its latest "
        "experiment. Every number in a text is in `facts`, exactly as shown.",
        parameters=[FROM, TO],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = _campaign(campaign_id)
        start, end = _range(request)
        return Response(selectors.campaign_insights(campaign=campaign, start=start, end=end))


class BudgetAllocationsApi(GenericAPIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["analytics.view_budgetallocation"],
                                  "POST": ["analytics.add_budgetallocation"]}  # fmt: skip
    pagination_class = PagePagination

    @extend_schema(
        summary="Budget allocations, newest first",
        operation_id="budget_allocations_list",
        description="Paginated (`page`, `page_size`); each with its lines as in the detail.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(*AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.allocation_list())
        return self.get_paginated_response([selectors.allocation_data(a) for a in page])

    @extend_schema(
        summary="Propose a budget allocation",
        description="`total` (money) split across `campaigns` (`id`, optional `min`, `max` of each one's spend "
        "over `horizon_days`, default 30) to maximise the summed predicted revenue (SLSQP on each campaign's "
        "diminishing-returns curve). All campaigns share one currency; `min` defaults to what the budget already "
        "uses (at least one minor unit), `max` to the total. 201 with `campaigns`: `current` → `proposed`, "
        "`predicted_revenue`, `marginal_roas`, `saturation_spend`, `confidence` and a `rationale` sentence. "
        "Stored as `proposed` until applied.",
        request=AllocationRequestSerializer,
        responses={201: OpenApiTypes.OBJECT, **error_responses(400, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        serializer = AllocationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        allocation = services.budget_allocation_create(
            actor=actor_for(request.user),
            total=data["total"],
            horizon_days=data["horizon_days"],
            campaigns=[
                services.AllocationRequest(c["id"], c.get("min"), c.get("max")) for c in data["campaigns"]
            ],
        )
        allocation = selectors.allocation_get(allocation_id=allocation.pk)
        return Response(selectors.allocation_data(allocation), status=status.HTTP_201_CREATED)


class BudgetAllocationApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"GET": ["analytics.view_budgetallocation"]}

    @extend_schema(
        summary="A budget allocation with its lines",
        operation_id="budget_allocations_read",
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, allocation_id: int) -> Response:
        return Response(selectors.allocation_data(selectors.allocation_get(allocation_id=allocation_id)))


class BudgetAllocationApplyApi(APIView):
    permission_classes = [IsCrm, StaffSessionModelPermissions]
    required_model_permissions = {"POST": ["analytics.change_budgetallocation", "campaigns.change_campaign"]}

    @extend_schema(
        summary="Apply a budget allocation: write each campaign's spend budget",
        description="Each line's `proposed` becomes its campaign's spend budget limit (period and pause "
        "threshold kept; an audit row per changed budget). All or nothing. 409 `allocation_applied` the second "
        "time; 409 `budget_below_used` when a campaign spent past its line meanwhile, `allocation_stale` when a "
        "campaign was deleted or got a count budget, `campaign_not_editable` when it closed.",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 409, *AUTH_ERRORS)},
    )
    def post(self, request: Request, allocation_id: int) -> Response:
        services.budget_allocation_apply(actor=actor_for(request.user), allocation_id=allocation_id)
        return Response(selectors.allocation_data(selectors.allocation_get(allocation_id=allocation_id)))
