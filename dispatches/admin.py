"""Dispatch admin: the dead-letter list (filter by status/campaign/partner), attempts, replay action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.actors import actor_for
from core.exceptions import ConflictError
from dispatches.models import Dispatch, DispatchAttempt
from dispatches.services import dispatch_replay


class DispatchAttemptInline(admin.TabularInline):
    model = DispatchAttempt
    fields = ["number", "attempted_at", "status_code", "latency_ms", "outcome", "error"]
    readonly_fields = fields
    ordering = ["number"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Dispatch)
class DispatchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "purchase_external_id",
        "campaign",
        "partner",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "campaign", "partner"]
    list_select_related = ["purchase", "campaign", "partner"]
    search_fields = ["=id", "=purchase__external_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "purchase",
        "campaign",
        "partner",
        "status",
        "attempts",
        "attempt_base",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "updated_at",
        "sent_at",
        "claimed_until",
        "replay_count",
        "replayed_at",
    ]
    exclude = ["claim_token"]
    inlines = [DispatchAttemptInline]
    actions = ["replay_dead"]

    @admin.display(description="purchase", ordering="purchase__external_id")
    def purchase_external_id(self, obj: Dispatch) -> str:
        return obj.purchase.external_id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # dispatches come from evaluations only

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # audit rows; the archive job purges them

    @admin.action(description="Replay selected dead dispatches")
    def replay_dead(self, request: HttpRequest, queryset: QuerySet[Dispatch]) -> None:
        replayed = skipped = 0
        for dispatch_id in queryset.values_list("id", flat=True):
            try:
                dispatch_replay(dispatch_id=dispatch_id, actor=actor_for(request.user))
            except ConflictError:
                skipped += 1
            else:
                replayed += 1
        if replayed:
            self.message_user(request, f"{replayed} dead dispatch(es) replayed.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} dispatch(es) skipped: only dead dispatches can be replayed.",
                messages.WARNING,
            )
