"""The CRM's analytics page in the brand admin: performance table, daily chart, campaign calendar.

Read-only, server-side rendered (SVG, no script), for whoever may view campaigns. Figures come from the
same selectors as the API (`performance_report`, `daily_totals`), so page and API cannot disagree.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from analytics import selectors
from analytics.charts import CalendarEntry, Series, campaign_calendar, daily_line_chart
from analytics.models import CampaignDailyFigures
from campaigns.admin import STATUS_COLOURS
from campaigns.models import Campaign

VIEW_CAMPAIGN = "campaigns.view_campaign"
DAY_CHOICES = (7, 30, 90, 365)


@admin.register(CampaignDailyFigures)
class CampaignAnalyticsAdmin(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.has_perm(VIEW_CAMPAIGN)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        try:
            days = int(request.GET.get("days", 30))
        except ValueError:
            days = 30
        days = days if days in DAY_CHOICES else 30
        campaign_id = request.GET.get("campaign")
        campaign = (
            Campaign.objects.filter(pk=campaign_id).first() if campaign_id and campaign_id.isdigit() else None
        )
        today = timezone.now().date()
        start = today - timedelta(days=days - 1)
        totals = selectors.daily_totals(start=start, end=today, campaign_id=campaign.pk if campaign else None)
        chart = daily_line_chart(
            days=[t[0] for t in totals],
            series=[
                Series("Impressions", [t[1] for t in totals], "#0d6efd"),
                Series("Clicks", [t[2] for t in totals], "#fd7e14"),
                Series("Conversions", [t[3] for t in totals], "#198754"),
            ],
        )
        calendar_start, calendar_end = today - timedelta(days=60), today + timedelta(days=120)
        campaigns = Campaign.objects.filter(
            ends_at__date__gte=calendar_start, starts_at__date__lte=calendar_end
        )
        entries = [
            CalendarEntry(c.pk, c.name, c.status, c.starts_at, c.ends_at,
                          reverse("admin:campaigns_campaign_change", args=[c.pk]))
            for c in campaigns.order_by("starts_at", "id")[:60]
        ]  # fmt: skip
        calendar = campaign_calendar(
            entries=entries, start=calendar_start, end=calendar_end, colours=STATUS_COLOURS
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Campaign analytics",
            "rows": [r.as_dict() for r in selectors.performance_report(start=start, end=today)],
            "chart": chart,
            "calendar": calendar,
            "days": days,
            "day_choices": DAY_CHOICES,
            "campaign": campaign,
            "campaigns": Campaign.objects.order_by("name").only("id", "name"),
            "start": start,
            "end": today,
        }
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)
