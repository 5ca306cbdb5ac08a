"""The CRM dashboards in the brand's admin: an overview of the campaigns and one page per campaign.

Read-only pages. Evaluation totals and money come from `selectors.evaluation_totals` (the selector
`/stats/` uses too); charts and hourly figures from the rollup, shown with the time they were computed. Anyone who may view campaigns may
view their dashboards ("CRM viewer" included). The pages exist only on brand hosts: the rollup lives
in the brand's schema, so what a brand's staff see is their brand's data and nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone

from campaigns.models import Campaign
from monitoring import selectors
from monitoring.alarms.selectors import brand_alarms
from monitoring.charts import Series, hourly_line_chart
from monitoring.models import BrandAlarms, CampaignHourlyRollup

CHART_HOURS_CHOICES = (24, 48, 168)
DEFAULT_CHART_HOURS = 48
VIEW_CAMPAIGN = "campaigns.view_campaign"

# What each ineligibility reason of SPEC §3 means to a CRM person (the code stays next to it, as in /stats/).
REASON_LABELS = {
    "campaign_not_active": "Campaign was paused",
    "outside_validity": "Purchased outside the campaign dates",
    "channel_not_allowed": "Channel not part of the campaign",
    "currency_mismatch": "Paid in another currency",
    "no_eligible_items": "No item counted (blacklisted or nothing eligible)",
    "below_minimum": "Below the minimum purchase value",
    "budget_exhausted": "Campaign budget used up",
}


def dead_letters_url() -> str | None:
    """The dispatch list filtered to dead letters, where they can be read and replayed."""
    try:
        return reverse("admin:dispatches_dispatch_changelist") + "?status__exact=dead"
    except NoReverseMatch:
        return None


def freshness(health) -> dict:
    """When the rollup and the health snapshot were last computed (one tick computes both), and how often."""
    every = selectors.rollup_refresh_seconds()
    if every % 60 == 0:
        cadence = "every minute" if every == 60 else f"every {every // 60} minutes"
    else:
        cadence = f"every {every} seconds"
    return {"computed_at": health.computed_at if health else None, "cadence": cadence}


class ReadOnlyDashboardMixin:
    """Pages, not tables: whoever may view campaigns may view them (no separate "monitoring"
    permission), and nothing on them can be added, changed or deleted."""

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


@admin.register(CampaignHourlyRollup)
class CampaignDashboardAdmin(ReadOnlyDashboardMixin, admin.ModelAdmin):
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
        day = selectors.campaigns_overview(since=since)
        evaluations = selectors.evaluation_totals(campaigns=[campaign for campaign, _ in day])
        rows = [
            {
                "campaign": campaign,
                "day": day_totals,
                "lifetime": lifetime.get(campaign),
                "evaluations": evaluations[campaign.pk],
                "url": reverse("admin:monitoring_campaign_dashboard", args=[campaign.pk]),
            }
            for campaign, day_totals in day
        ]
        health = selectors.brand_health()
        context = {
            **self.admin_site.each_context(request),
            "title": "Campaign dashboards",
            "opts": self.opts,
            "rows": rows,
            "health": health,
            "freshness": freshness(health),
            "dead_letters_url": dead_letters_url(),
            "alarms_url": reverse("admin:monitoring_brandalarms_changelist"),
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
        burn_down = selectors.budget_burn_down(campaign=campaign, hours=[p.hour for p in points])
        budget_chart = None
        if burn_down is not None:
            budget_chart = hourly_line_chart(
                hours=[p.hour for p in points],
                series=[
                    Series("Budget used (committed + reserved)", burn_down.used, "#6f42c1"),
                    Series(f"Pause at {burn_down.pause_at_percent} %", burn_down.pause_line, "#fd7e14"),
                    Series("Limit", burn_down.limit_line, "#dc3545"),
                ],
                height=200,
            )
        lifetime_evaluations = selectors.evaluation_totals(campaigns=[campaign])[campaign.pk]
        window_evaluations = selectors.evaluation_totals(campaigns=[campaign], since=points[0].hour)[
            campaign.pk
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dashboard: {campaign.name}",
            "opts": self.opts,
            "campaign": campaign,
            "campaign_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
            "chart": chart,
            "outcomes_chart": outcomes_chart,
            "budget_chart": budget_chart,
            "burn_down": burn_down,
            "hours": hours,
            "hours_choices": CHART_HOURS_CHOICES,
            "window": selectors.campaign_totals(campaign=campaign, since=points[0].hour),
            "lifetime": selectors.campaign_totals(campaign=campaign),
            "evaluations": lifetime_evaluations,
            "window_evaluations": window_evaluations,
            "ineligible": [
                {"reason": reason, "label": REASON_LABELS.get(reason, reason), "count": count}
                for reason, count in lifetime_evaluations.ineligible.items()
            ],
            "freshness": freshness(selectors.brand_health()),
            "dead_letters_url": dead_letters_url(),
            "alarms_url": reverse("admin:monitoring_brandalarms_changelist"),
            "dispatches_now": selectors.campaign_dispatch_backlog(campaign_id=campaign.pk),
            "points": [
                p
                for p in reversed(points)
                if p.evaluated or p.dispatch_sent + p.dispatch_retry + p.dispatch_dead or p.awards
            ][:48],
        }
        return TemplateResponse(request, "admin/monitoring/campaign_dashboard.html", context)


@admin.register(BrandAlarms)
class BrandAlarmsAdmin(ReadOnlyDashboardMixin, admin.ModelAdmin):
    """The brand's alarms and the rules that raise them, read-only (rules are tuned by the platform)."""

    def get_urls(self):
        return [
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name="monitoring_brandalarms_changelist",
            ),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        health = selectors.brand_health()
        context = {
            **self.admin_site.each_context(request),
            "title": "Alarms",
            "opts": self.opts,
            "view": brand_alarms(brand_id=connection.tenant.pk),
            "freshness": freshness(health),
            "dead_letters_url": dead_letters_url(),
            "overview_url": reverse("admin:monitoring_campaignhourlyrollup_changelist"),
        }
        return TemplateResponse(request, "admin/monitoring/brand_alarms.html", context)
