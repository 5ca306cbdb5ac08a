# --- Awards (issue 5): read-only, with each award's notification status.
from django.contrib import admin as _award_admin
from django.http import HttpRequest as _HttpRequest

from partners.models import Award as _Award


@_award_admin.register(_Award)
class AwardAdmin(_award_admin.ModelAdmin):
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

    @_award_admin.display(description="notification", ordering="notification__status")
    def notification_status(self, award: _Award) -> str:
        notification = getattr(award, "notification", None)
        return notification.status if notification else "—"

    def has_add_permission(self, request: _HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: _HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: _HttpRequest, obj=None) -> bool:
        return False


# Dispatch admin (issue 4) lives in its own module.
from partners import dispatch_admin  # noqa: E402, F401
