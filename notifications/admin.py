"""Notifications in the brand's admin: view-only rows, linked to their award, and the confirmed dead-letter replay."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from campaigns.admin import CampaignAdmin
from core.actors import actor_for
from core.exceptions import ApplicationError
from notifications.broadcasts import (
    campaign_message_cancel,
    campaign_message_errors,
    campaign_message_schedule,
)
from notifications.messages import suppression_add, suppression_remove
from notifications.models import (
    CampaignMessage,
    DeviceToken,
    FrequencyRule,
    Message,
    MessagingSettings,
    Notification,
    Suppression,
)
from notifications.selectors import message_status_counts
from notifications.services import notification_replay
from purchases.admin_kit import RecordAdmin, changelist_url, confirmed_replay, link, link_to
from purchases.selectors import prefix_q


def notification_label(notification: Notification) -> str:
    return f"{notification.customer_id} · {notification.title or '(no title)'} · {notification.status}"


@admin.register(Notification)
class NotificationAdmin(RecordAdmin):
    list_display = [
        "label",
        "campaign",
        "status",
        "provider",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "created_at",
    ]
    list_display_links = ["label"]
    list_filter = ["status", "provider", "campaign", "created_at"]
    search_fields = ["customer_id"]
    search_help_text = "Searches the start of the customer id, letter case as sent."
    list_select_related = ["campaign"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "customer_id",
                    "campaign_link",
                    "award_link",
                    "title",
                    "body",
                    "status",
                    "provider",
                    "attempts",
                    "next_attempt_at",
                    "last_status_code",
                    "last_error",
                    "created_at",
                    "sent_at",
                ]
            },
        ),
        ("Related", {"fields": ["dispatches_link"]}),
        (
            "Technical",
            {
                "classes": ["collapse"],
                "fields": ["id", "provider_message_id", "delivered_to", "claimed_until", "updated_at"],
            },
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    actions = ["replay_dead"]

    def record_title(self, notification: Notification) -> str:
        return notification_label(notification)

    @admin.display(description="notification", ordering="customer_id")
    def label(self, notification: Notification) -> str:
        return notification_label(notification)

    @admin.display(description="campaign")
    def campaign_link(self, notification: Notification) -> str:
        return link_to(notification.campaign)

    @admin.display(description="award")
    def award_link(self, notification: Notification) -> str:
        return link_to(notification.award, f"award {notification.award.award_id}")

    @admin.display(description="dispatches")
    def dispatches_link(self, notification: Notification) -> str:
        return link(
            changelist_url(
                "dispatches.dispatch",
                purchase__customer_id=notification.customer_id,
                campaign__id__exact=notification.campaign_id,
            ),
            "this customer's dispatches in this campaign",
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(prefix_q("customer_id", term)), False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.replay_notification")

    @admin.action(description="Replay the selected dead notifications", permissions=["replay"])
    def replay_dead(self, request: HttpRequest, queryset: QuerySet[Notification]):
        return confirmed_replay(
            self,
            request,
            queryset,
            dead=queryset.filter(status=Notification.Status.DEAD),
            # A template that still fails to render leaves the notification dead.
            replay=lambda pk, *, actor: (
                notification_replay(notification_id=pk, actor=actor).status == Notification.Status.QUEUED
            ),
            noun=("notification", "notifications"),
            becomes="queued",
            describe=notification_label,
        )


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    list_display = ["customer_id", "platform", "token", "updated_at"]
    search_fields = ["customer_id", "token"]
    list_filter = ["platform"]
    readonly_fields = ["created_at", "updated_at"]


# --- Messages (SPEC §14) ------------------------------------------------------------------------------


@admin.register(Message)
class MessageAdmin(RecordAdmin):
    list_display = [
        "customer_id",
        "channel",
        "category",
        "subject",
        "status",
        "skip_reason",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "channel", "category", "skip_reason", "campaign", "created_at"]
    search_fields = ["customer_id"]
    search_help_text = "Searches the start of the customer id, letter case as sent."
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_select_related = ["campaign"]
    readonly_fields = [
        "id",
        "customer_id",
        "channel",
        "category",
        "topic",
        "address",
        "subject",
        "body_text",
        "body_html",
        "status",
        "skip_reason",
        "provider",
        "attempts",
        "next_attempt_at",
        "provider_message_id",
        "last_error",
        "segments",
        "cost",
        "campaign",
        "variant",
        "journey_step",
        "read_at",
        "created_at",
        "sent_at",
    ]
    fields = readonly_fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(prefix_q("customer_id", term)), False


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ["channel", "address", "reason", "note"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Add and remove suppressions through the service (normalised address, audit row)."""

    form = SuppressionForm
    list_display = ["address", "channel", "reason", "created_at"]
    list_filter = ["channel", "reason"]
    search_fields = ["address"]
    actions = ["remove_selected"]

    def get_readonly_fields(self, request, obj=None):
        return ["channel", "address", "reason", "note", "created_at"] if obj else []

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        suppression, _ = suppression_add(
            channel=obj.channel,
            address=obj.address,
            reason=obj.reason,
            note=obj.note,
            actor=actor_for(request.user),
        )
        obj.pk = suppression.pk

    def delete_model(self, request, obj) -> None:
        suppression_remove(suppression_id=obj.pk, actor=actor_for(request.user))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Remove the selected suppressions", permissions=["delete"])
    def remove_selected(self, request: HttpRequest, queryset: QuerySet[Suppression]) -> None:
        for pk in list(queryset.values_list("pk", flat=True)):
            suppression_remove(suppression_id=pk, actor=actor_for(request.user))
        self.message_user(request, "Removed.")


@admin.register(FrequencyRule)
class FrequencyRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "max_messages", "window_hours", "active"]
    list_editable = ["active"]
    list_filter = ["channel", "active"]


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "quiet_hours_enabled", "quiet_start", "quiet_end"]
    fieldsets = [
        (
            "Quiet hours (customer's local time, else the brand's timezone)",
            {"fields": ["quiet_hours_enabled", "quiet_start", "quiet_end"]},
        ),
        ("Cost per message", {"fields": ["cost_email", "cost_sms_segment", "cost_push", "cost_in_app"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not MessagingSettings.objects.exists()


# --- Broadcasts ---------------------------------------------------------------------------------------


class CampaignMessageForm(forms.ModelForm):
    class Meta:
        model = CampaignMessage
        fields = [
            "campaign",
            "name",
            "category",
            "topic",
            "segment",
            "first_channel",
            "second_channel",
            "third_channel",
            "email_subject",
            "email_text",
            "email_html",
            "sms_text",
            "push_title",
            "push_body",
            "in_app_title",
            "in_app_body",
            "send_at",
            "defer_when_capped",
            "batch_size",
            "rate_per_second",
        ]
        help_texts = {
            "first_channel": "Each customer gets the message on the first channel that has their address and consent.",
            "rate_per_second": "0: the channel's default pace.",
        }

    def clean(self):
        cleaned = super().clean()
        texts = [
            "category",
            "topic",
            "first_channel",
            "second_channel",
            "third_channel",
            "email_subject",
            "email_text",
            "email_html",
            "sms_text",
            "push_title",
            "push_body",
            "in_app_title",
            "in_app_body",
        ]
        probe = CampaignMessage(**{name: cleaned.get(name) or "" for name in texts})
        for field, problems in campaign_message_errors(probe).items():
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
        return cleaned


def outcome_summary(cm: CampaignMessage) -> str:
    counts = message_status_counts(campaign_id=cm.campaign_id, broadcast_id=cm.pk)
    if not counts:
        return "—"
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


@admin.register(CampaignMessage)
class CampaignMessageAdmin(admin.ModelAdmin):
    form = CampaignMessageForm
    list_display = [
        "name",
        "campaign",
        "state",
        "first_channel",
        "recipients_done",
        "send_at",
        "next_batch_at",
    ]
    list_filter = ["state", "category", "first_channel"]
    search_fields = ["name"]
    readonly_fields = ["state", "recipients_done", "started_at", "finished_at", "next_batch_at", "outcome"]
    actions = ["schedule", "cancel"]

    @admin.display(description="outcome (messages by status and skip reason)")
    def outcome(self, cm: CampaignMessage) -> str:
        return outcome_summary(cm) if cm.pk else "—"

    def has_change_permission(self, request, obj=None) -> bool:
        # A broadcast that started cannot change under its recipients.
        allowed = super().has_change_permission(request, obj)
        return allowed and (
            obj is None or obj.state in (CampaignMessage.State.DRAFT, CampaignMessage.State.CANCELLED)
        )

    @admin.action(description="Schedule the selected messages (at send_at, or now)")
    def schedule(self, request: HttpRequest, queryset: QuerySet[CampaignMessage]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            try:
                campaign_message_schedule(campaign_message_id=pk, actor=actor_for(request.user))
            except ApplicationError as exc:
                self.message_user(request, f"#{pk}: {exc}", level="error")

    @admin.action(description="Cancel the selected messages")
    def cancel(self, request: HttpRequest, queryset: QuerySet[CampaignMessage]) -> None:
        for pk in queryset.values_list("pk", flat=True):
            try:
                campaign_message_cancel(campaign_message_id=pk, actor=actor_for(request.user))
            except ApplicationError as exc:
                self.message_user(request, f"#{pk}: {exc}", level="error")


class CampaignMessageInline(admin.TabularInline):
    """On the campaign page: each broadcast's progress and outcome counts."""

    model = CampaignMessage
    fields = ["name", "state", "recipients_done", "next_batch_at", "outcome"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "message (broadcast)"
    verbose_name_plural = "messages (broadcasts): progress and outcome"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="outcome")
    def outcome(self, cm: CampaignMessage) -> str:
        return outcome_summary(cm)


# campaigns sits below notifications and does not know of it: this app adds its inline to the campaign
# admin (before archive's subclass of it is registered, INSTALLED_APPS order).
CampaignAdmin.inlines = [*CampaignAdmin.inlines, CampaignMessageInline]
