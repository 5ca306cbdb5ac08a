"""The CRM dashboards in the brand's admin: an overview of the campaigns and one page per campaign.

Read-only pages over the hourly rollup (monitoring.selectors). Anyone who may view campaigns may
view their dashboards ("CRM viewer" included). The pages exist only on brand hosts: the rollup lives
in the brand's schema, so what a brand's staff see is their brand's data and nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from campaigns.models import Campaign
from monitoring import selectors
from monitoring.charts import Series, hourly_line_chart
from monitoring.models import CampaignHourlyRollup

CHART_HOURS_CHOICES = (24, 48, 168)
DEFAULT_CHART_HOURS = 48
VIEW_CAMPAIGN = "campaigns.view_campaign"


@admin.register(CampaignHourlyRollup)
class CampaignDashboardAdmin(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        # Whoever may view campaigns may view their dashboards (no separate "monitoring" permission).
        return request.user.is_active and request.user.has_perm(VIEW_CAMPAIGN)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                "campaign/<int:campaign_id>/",
                self.admin_site.admin_view(self.campaign_dashboard_view),
                name="monitoring_campaign_dashboard",
            ),
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name="monitoring_campaignhourlyrollup_changelist",
            ),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """The overview: every campaign's last 24 hours and lifetime totals, linking to its dashboard."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        since = timezone.now() - timedelta(hours=24)
        lifetime = dict(selectors.campaigns_overview())
        rows = [
            {
                "campaign": campaign,
                "day": day,
                "lifetime": lifetime.get(campaign),
                "url": reverse("admin:monitoring_campaign_dashboard", args=[campaign.pk]),
            }
            for campaign, day in selectors.campaigns_overview(since=since)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Campaign dashboards",
            "opts": self.opts,
            "rows": rows,
            "health": selectors.brand_health(),
        }
        return TemplateResponse(request, "admin/monitoring/dashboard_overview.html", context)

    def campaign_dashboard_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        try:
            hours = int(request.GET.get("hours", DEFAULT_CHART_HOURS))
        except ValueError:
            hours = DEFAULT_CHART_HOURS
        if hours not in CHART_HOURS_CHOICES:
            hours = DEFAULT_CHART_HOURS
        points = selectors.campaign_hourly_series(campaign=campaign, hours=hours)
        chart = hourly_line_chart(
            hours=[p.hour for p in points],
            series=[
                Series("Evaluated", [p.evaluated for p in points], "#0d6efd"),
                Series("Eligible", [p.eligible for p in points], "#198754"),
            ],
        )
        outcomes_chart = hourly_line_chart(
            hours=[p.hour for p in points],
            series=[
                Series("Sent", [p.dispatch_sent for p in points], "#198754"),
                Series("Retry", [p.dispatch_retry for p in points], "#fd7e14"),
                Series("Dead", [p.dispatch_dead for p in points], "#dc3545"),
            ],
            height=200,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dashboard: {campaign.name}",
            "opts": self.opts,
            "campaign": campaign,
            "campaign_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
            "chart": chart,
            "outcomes_chart": outcomes_chart,
            "hours": hours,
            "hours_choices": CHART_HOURS_CHOICES,
            "window": selectors.campaign_totals(campaign=campaign, since=points[0].hour),
            "lifetime": selectors.campaign_totals(campaign=campaign),
            "dispatches_now": selectors.campaign_dispatch_backlog(campaign_id=campaign.pk),
            "points": [
                p
                for p in reversed(points)
                if p.evaluated or p.dispatch_sent + p.dispatch_retry + p.dispatch_dead or p.awards
            ][:48],
        }
        return TemplateResponse(request, "admin/monitoring/campaign_dashboard.html", context)
