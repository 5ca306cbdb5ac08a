"""Awards in the brand's admin: view-only, the value as money, linked to the notification and the dispatches."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from awards.models import Award
from core.money import money_str
from purchases.admin_kit import RecordAdmin, changelist_url, link, link_to
from purchases.selectors import prefix_q


def award_value(award: Award) -> str:
    if award.value is None:
        return "—"
    if not award.currency:
        return format(award.value.normalize(), "f")
    return f"{money_str(award.value, award.currency)} {award.currency}"


@admin.register(Award)
class AwardAdmin(RecordAdmin):
    list_display = [
        "award_id",
        "customer_id",
        "campaign",
        "partner",
        "reward_type",
        "value_display",
        "received_at",
        "notification_status",
    ]
    list_filter = ["campaign", "partner", "received_at", "notification__status"]
    search_fields = ["customer_id", "award_id"]
    search_help_text = (
        "Searches the start of the customer id or of the partner's award id, letter case as sent."
    )
    list_select_related = ["partner", "campaign", "notification"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "award_id",
                    "customer_id",
                    "campaign_link",
                    "partner_link",
                    "reward_type",
                    "value_display",
                    "voucher_code",
                    "expires_at",
                    "message",
                    "received_at",
                ]
            },
        ),
        ("Related", {"fields": ["notification_link", "dispatches_link", "purchases_link"]}),
        ("Technical", {"classes": ["collapse"], "fields": ["id", "webhook_id"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    @admin.display(description="value", ordering="value")
    def value_display(self, award: Award) -> str:
        return award_value(award)

    @admin.display(description="notification", ordering="notification__status")
    def notification_status(self, award: Award) -> str:
        notification = getattr(award, "notification", None)
        return notification.status if notification else "—"

    @admin.display(description="campaign")
    def campaign_link(self, award: Award) -> str:
        return link_to(award.campaign)

    @admin.display(description="partner")
    def partner_link(self, award: Award) -> str:
        return link_to(award.partner)

    @admin.display(description="notification")
    def notification_link(self, award: Award) -> str:
        notification = getattr(award, "notification", None)
        return (
            link_to(notification, f"push notification ({notification.status})")
            if notification
            else "none yet"
        )

    @admin.display(description="dispatches")
    def dispatches_link(self, award: Award) -> str:
        # An award names the customer and the campaign (SPEC §7): the dispatches of that pair.
        return link(
            changelist_url(
                "dispatches.dispatch",
                purchase__customer_id=award.customer_id,
                campaign__id__exact=award.campaign_id,
            ),
            "this customer's dispatches in this campaign",
        )

    @admin.display(description="purchases")
    def purchases_link(self, award: Award) -> str:
        return link(changelist_url("purchases.purchase", q=award.customer_id), "this customer's purchases")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(prefix_q("customer_id", term)), False
