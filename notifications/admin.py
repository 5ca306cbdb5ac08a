"""Notifications in the brand's admin: read-only rows, and the dead-letter replay action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.actors import actor_for
from core.exceptions import ApplicationError
from notifications.models import DeviceToken, Notification
from notifications.services import notification_replay


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "customer_id",
        "campaign",
        "status",
        "provider",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "sent_at",
        "created_at",
    ]
    list_filter = ["status", "provider", "campaign", "created_at"]
    search_fields = ["customer_id", "award__award_id", "provider_message_id"]
    list_select_related = ["campaign"]
    date_hierarchy = "created_at"
    actions = ["replay_dead"]

    @admin.action(description="Replay the selected dead notifications")
    def replay_dead(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        replayed, refused = 0, 0
        for notification_id in queryset.values_list("pk", flat=True):
            try:
                notification_replay(notification_id=notification_id, actor=actor_for(request.user))
                replayed += 1
            except ApplicationError:
                refused += 1
        self.message_user(request, f"{replayed} notification(s) queued again.", messages.SUCCESS)
        if refused:
            self.message_user(
                request, f"{refused} skipped: only dead notifications can be replayed.", messages.WARNING
            )


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    list_display = ["customer_id", "platform", "token", "updated_at"]
    search_fields = ["customer_id", "token"]
    list_filter = ["platform"]
    readonly_fields = ["created_at", "updated_at"]
