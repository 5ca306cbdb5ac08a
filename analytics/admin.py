"""The CRM's analytics page in the brand admin: performance table, daily chart, campaign calendar.

Read-only, server-side rendered (SVG, no script), for whoever may view campaigns. Figures come from the
same selectors as the API (`performance_report`, `daily_totals`), so page and API cannot disagree.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from analytics import selectors, services
from analytics.charts import CalendarEntry, Series, campaign_calendar, daily_line_chart
from analytics.models import BudgetAllocation, BudgetAllocationLine, CampaignDailyFigures
from campaigns.admin import STATUS_COLOURS
from campaigns.models import Campaign
from core.actors import actor_for
from core.exceptions import ApplicationError, ValidationFailed
from core.money import to_minor_unit

VIEW_CAMPAIGN = "campaigns.view_campaign"
DAY_CHOICES = (7, 30, 90, 365)
FORECAST_DAYS = 30


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
        insights = forecast = None
        if campaign is not None:
            insights = selectors.campaign_insights(campaign=campaign, start=start, end=today)
            spent = sum(Decimal(row["cost"]) for row in selectors.campaign_metrics(
                campaign=campaign, start=start, end=today, granularity="month"))  # fmt: skip
            if spent > 0:
                spend = to_minor_unit(spent * FORECAST_DAYS / days, campaign.currency)
                forecast = selectors.campaign_forecast(
                    campaign=campaign, spend=spend, horizon_days=FORECAST_DAYS
                )
        context = {
            **self.admin_site.each_context(request),
            "insights": insights,
            "forecast": forecast,
            "forecast_rows": [(n, forecast[n]) for n in ("pessimistic", "baseline", "optimistic")]
            if forecast
            else [],
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


# --------------------------------------------------------------------------- budget allocations (SPEC §17)


class BudgetAllocationForm(forms.ModelForm):
    """Propose: a total, a horizon and the campaigns (bounds default as in the API)."""

    campaigns = forms.ModelMultipleChoiceField(
        queryset=Campaign.objects.exclude(status__in=["completed", "cancelled", "archived"]).order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        help_text="Each campaign keeps at least what its budget already uses; at most the total.",
    )

    class Meta:
        model = BudgetAllocation
        fields = ["total", "horizon_days"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            services.budget_allocation_check(
                total=data["total"],
                horizon_days=data["horizon_days"],
                requests=[services.AllocationRequest(c.pk) for c in data["campaigns"]],
            )
        except ValidationFailed as error:
            for field, messages_ in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages_)
        return data


class BudgetAllocationLineInline(admin.TabularInline):
    model = BudgetAllocationLine
    extra = 0
    can_delete = False
    fields = ["campaign_name", "current_limit", "proposed", "predicted_revenue", "marginal_roas",
              "saturation_spend", "confidence", "rationale"]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(BudgetAllocation)
class BudgetAllocationAdmin(admin.ModelAdmin):
    form = BudgetAllocationForm
    list_display = ["id", "total", "currency", "horizon_days", "predicted_revenue", "status", "created_by",
                    "created_at"]  # fmt: skip
    list_filter = ["status"]
    actions = ["apply"]
    inlines = [BudgetAllocationLineInline]
    readonly_fields = ["total", "currency", "horizon_days", "predicted_revenue", "status", "created_by",
                       "created_at", "applied_by", "applied_at", "apply_button"]  # fmt: skip

    def get_fields(self, request: HttpRequest, obj: BudgetAllocation | None = None) -> list[str]:
        return ["total", "horizon_days", "campaigns"] if obj is None else list(self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: BudgetAllocation | None = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def get_inlines(self, request: HttpRequest, obj: BudgetAllocation | None = None) -> list:
        return [] if obj is None else self.inlines

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a proposal is a record of what was suggested and applied

    @admin.display(description="Apply")
    def apply_button(self, obj: BudgetAllocation) -> str:
        if obj.status != BudgetAllocation.Status.PROPOSED:
            return "Applied: the campaigns' spend budgets were written."
        return format_html(
            '<button type="submit" name="_apply" value="1" class="default">{}</button>',
            "Apply: write these spend budgets",
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        # The page is read-only once proposed: its one button applies, through the service.
        if request.method == "POST" and "_apply" in request.POST:
            allocation = self.get_object(request, object_id)
            if allocation is None or not self.has_change_permission(request, allocation):
                raise PermissionDenied
            self._apply_one(request, allocation)
            return HttpResponseRedirect(
                reverse("admin:analytics_budgetallocation_change", args=[allocation.pk])
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(
        self, request: HttpRequest, obj: BudgetAllocation, form: forms.ModelForm, change: bool
    ) -> None:
        if change:
            return  # read-only once proposed; the apply button posts here
        data = form.cleaned_data
        try:
            created = services.budget_allocation_create(
                actor=actor_for(request.user), total=data["total"], horizon_days=data["horizon_days"],
                campaigns=[services.AllocationRequest(c.pk) for c in data["campaigns"]],
            )  # fmt: skip
        except ApplicationError as error:  # changed between the form's check and now
            raise PermissionDenied(error.message) from error
        # The admin goes on with the object it built (log entry, redirect): make it the saved one.
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        return  # the lines are written by the service

    def _apply_one(self, request: HttpRequest, allocation: BudgetAllocation) -> None:
        if not request.user.has_perm("campaigns.change_campaign"):
            self.message_user(request, "Applying needs the permission to change campaigns.", messages.ERROR)
            return
        try:
            services.budget_allocation_apply(actor=actor_for(request.user), allocation_id=allocation.pk)
        except ApplicationError as error:
            self.message_user(request, f"Allocation {allocation.pk}: {error.message}", messages.ERROR)
        else:
            self.message_user(request, f"Allocation {allocation.pk} applied.", messages.SUCCESS)

    @admin.action(description="Apply: write the campaigns' spend budgets", permissions=["change"])
    def apply(self, request: HttpRequest, queryset: QuerySet[BudgetAllocation]) -> None:
        for allocation in queryset:
            self._apply_one(request, allocation)
