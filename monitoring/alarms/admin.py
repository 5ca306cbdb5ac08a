"""Platform admin (public schema only): alarm rules (editable), alarms (read-only), the cross-brand dashboard."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from monitoring.alarms.models import Alarm, AlarmRule, PlatformDashboard
from monitoring.alarms.selectors import platform_overview


@admin.register(AlarmRule)
class AlarmRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "threshold",
        "window_minutes",
        "brand",
        "is_enabled",
        "notify_email",
        "notify_webhook",
    ]
    list_filter = ["kind", "is_enabled", "brand"]
    list_editable = ["threshold", "is_enabled"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "threshold", "brand", "is_enabled"]}),
        ("Failure rate only", {"fields": ["window_minutes", "min_attempts"]}),
        ("Notify operators", {"fields": ["notify_email", "notify_webhook"],
                              "description": "Email goes to ALARM_EMAIL_TO; the webhook to ALARM_WEBHOOK_URL, "
                                             "signed with ALARM_WEBHOOK_SECRET (Standard Webhooks)."}),
    ]  # fmt: skip


@admin.register(Alarm)
class AlarmAdmin(admin.ModelAdmin):
    list_display = [
        "rule",
        "brand",
        "partner_slug",
        "state",
        "fired_at",
        "fired_value",
        "last_value",
        "cleared_at",
    ]
    list_filter = [("cleared_at", admin.EmptyFieldListFilter), "rule", "brand"]
    list_select_related = ["rule", "brand"]
    date_hierarchy = "fired_at"

    @admin.display(description="state")
    def state(self, alarm: Alarm) -> str:
        return "FIRING" if alarm.is_firing else "cleared"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(PlatformDashboard)
class PlatformDashboardAdmin(admin.ModelAdmin):
    """Its changelist is the dashboard: per brand figures of the last 24 h, backlog, dead letters, alarms."""

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
        rows = platform_overview()
        context = {
            **self.admin_site.each_context(request),
            "title": "Platform dashboard",
            "opts": self.opts,
            "rows": rows,
            "totals": {
                "evaluated": sum(r.day.evaluated for r in rows),
                "eligible": sum(r.day.eligible for r in rows),
                "backlog": sum(r.health.backlog for r in rows if r.health),
                "dead_letters": sum(r.health.dead_letters for r in rows if r.health),
                "open_alarms": sum(r.open_alarms for r in rows),
            },
            "alarms_url": reverse("admin:alarms_alarm_changelist") + "?cleared_at__isempty=1",
        }
        return TemplateResponse(request, "admin/alarms/platform_dashboard.html", context)
