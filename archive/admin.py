"""Archive runs in the brand's admin: per campaign, counts, location and duration (read-only).

`ArchiveRunInline` is added to the Campaign admin here (the end of this module), so an
archived campaign shows where its data went.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from archive.models import ArchiveRun
from campaigns.admin import CampaignAdmin
from campaigns.models import Campaign
from core import task_names
from outbox.services import outbox_enqueue

_RUN_FIELDS = (
    "kind",
    "campaign",
    "status",
    "step",
    "location",
    "row_counts",
    "rows_exported",
    "rows_purged",
    "bytes_written",
    "manifest_sha256",
    "attempts",
    "duration_seconds",
    "created_at",
    "finished_at",
    "cutoff",
    "last_error",
)


@admin.register(ArchiveRun)
class ArchiveRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "campaign",
        "status",
        "step",
        "rows_exported",
        "rows_purged",
        "duration",
        "location",
        "finished_at",
    )
    list_filter = ("kind", "status", "step")
    search_fields = ("location", "campaign__name")
    list_select_related = ("campaign",)
    readonly_fields = _RUN_FIELDS
    fields = _RUN_FIELDS
    actions = ("resume_runs",)

    @admin.display(description="duration")
    def duration(self, run: ArchiveRun) -> str:
        return f"{run.duration_seconds:.1f} s"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are started by the daily job or `manage.py archive_campaign`

    def has_delete_permission(self, request: HttpRequest, obj: ArchiveRun | None = None) -> bool:
        return False  # the record of where a campaign's data went

    @admin.action(description="Resume the selected unfinished runs (in the background)")
    def resume_runs(self, request: HttpRequest, queryset: QuerySet[ArchiveRun]) -> None:
        resumed = 0
        for run in queryset.exclude(status=ArchiveRun.Status.COMPLETED):
            if run.kind == ArchiveRun.Kind.CAMPAIGN:
                outbox_enqueue(task_name=task_names.ARCHIVE_CAMPAIGN, args=[run.campaign_id])
            else:
                outbox_enqueue(task_name=task_names.ARCHIVE_EXPIRED_PURCHASES)
            resumed += 1
        self.message_user(request, f"{resumed} run(s) queued to resume.", messages.SUCCESS)


class ArchiveRunInline(admin.TabularInline):
    """On the Campaign admin: where the campaign's data went, and how the archive run went."""

    model = ArchiveRun
    fk_name = "campaign"
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "archive"
    verbose_name_plural = "archive (where this campaign's data went)"
    fields = ("status", "step", "location", "row_counts", "rows_purged", "duration_seconds", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# The campaign page shows where an archived campaign's data went: this app adds its inline to the
# campaign admin (campaigns sits below archive and does not know of it).
class CampaignWithArchiveAdmin(CampaignAdmin):
    inlines = [*CampaignAdmin.inlines, ArchiveRunInline]


admin.site.unregister(Campaign)
admin.site.register(Campaign, CampaignWithArchiveAdmin)
