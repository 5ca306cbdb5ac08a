"""Awards admin: read-only, with each award's notification status."""

from django.contrib import admin
from django.http import HttpRequest

from awards.models import Award


@admin.register(Award)
class AwardAdmin(admin.ModelAdmin):
    list_display = [
        "award_id",
        "partner",
        "campaign",
        "customer_id",
        "reward_type",
        "value",
        "currency",
        "received_at",
        "notification_status",
    ]
    list_filter = ["campaign", "partner", "received_at", "notification__status"]
    search_fields = ["customer_id", "award_id", "voucher_code"]
    list_select_related = ["partner", "campaign", "notification"]
    date_hierarchy = "received_at"

    @admin.display(description="notification", ordering="notification__status")
    def notification_status(self, award: Award) -> str:
        notification = getattr(award, "notification", None)
        return notification.status if notification else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
