"""Thin views of analytics (SPEC §16): campaign metrics, the performance report (JSON, CSV), cohorts."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from campaigns.models import Campaign
from core.exceptions import NotFoundError, ValidationFailed
from core.openapi import AUTH_ERRORS, error_responses
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
