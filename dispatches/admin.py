"""Dispatches in the brand's admin: view-only records, the dead-letter list, and the confirmed replay.

The dead-letter list is `/admin/dispatches/dispatch/?status__exact=dead` (the dashboard links to
it). A CRM editor (permission `replay_dispatch`) replays from it; a CRM viewer only looks.
"""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from core.money import money_str
from dispatches.models import Dispatch, DispatchAttempt, Retraction, RetractionAttempt
from dispatches.services import dispatch_replay, retraction_replay
from purchases.admin_kit import RecordAdmin, changelist_url, confirmed_replay, counted, link, link_to
from purchases.selectors import prefix_q

DEAD_LETTERS_URL = "/admin/dispatches/dispatch/?status__exact=dead"
SEARCH_HELP = (
    "Searches the start of the purchase's external id or of the customer id, letter case as sent; "
    "a whole dispatch id finds that dispatch."
)


def dispatch_label(dispatch: Dispatch) -> str:
    """What a CRM person recognises a dispatch by: the purchase, the customer and the campaign."""
    purchase = dispatch.purchase
    return f"{purchase.external_id} · {purchase.customer_id} · {dispatch.campaign}"


class DispatchAttemptInline(admin.TabularInline):
    model = DispatchAttempt
    fields = ["number", "attempted_at", "outcome", "status_code", "latency_ms", "error"]
    readonly_fields = fields
    ordering = ["number"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "attempts to send it to the partner"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Dispatch)
class DispatchAdmin(RecordAdmin):
    list_display = [
        "label",
        "status",
        "partner",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_display_links = ["label"]
    list_filter = ["status", "campaign", "partner"]
    list_select_related = ["purchase", "campaign", "partner"]
    search_fields = ["purchase__external_id", "purchase__customer_id"]
    search_help_text = SEARCH_HELP
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "purchase_link",
                    "customer",
                    "campaign_link",
                    "partner_link",
                    "status",
                    "attempts",
                    "last_status_code",
                    "last_error",
                    "next_attempt_at",
                    "created_at",
                    "sent_at",
                    "replay_count",
                    "replayed_at",
                ]
            },
        ),
        ("Related", {"fields": ["evaluation_link", "attempts_link", "awards_link", "notifications_link"]}),
        (
            "Technical",
            {"classes": ["collapse"], "fields": ["id", "attempt_base", "claimed_until", "updated_at"]},
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    inlines = [DispatchAttemptInline]
    actions = ["replay_dead"]

    def record_title(self, dispatch: Dispatch) -> str:
        return f"{dispatch_label(dispatch)} ({dispatch.get_status_display().lower()})"

    @admin.display(description="dispatch", ordering="purchase__external_id")
    def label(self, dispatch: Dispatch) -> str:
        return dispatch_label(dispatch)

    @admin.display(description="purchase")
    def purchase_link(self, dispatch: Dispatch) -> str:
        purchase = dispatch.purchase
        return link_to(
            purchase,
            f"{purchase.external_id} ({money_str(purchase.total, purchase.currency)} {purchase.currency})",
        )

    @admin.display(description="customer")
    def customer(self, dispatch: Dispatch) -> str:
        customer_id = dispatch.purchase.customer_id
        return link(changelist_url("purchases.purchase", q=customer_id), customer_id)

    @admin.display(description="campaign")
    def campaign_link(self, dispatch: Dispatch) -> str:
        return link_to(dispatch.campaign)

    @admin.display(description="partner")
    def partner_link(self, dispatch: Dispatch) -> str:
        return link_to(dispatch.partner)

    @admin.display(description="evaluation")
    def evaluation_link(self, dispatch: Dispatch) -> str:
        evaluation = dispatch.purchase.evaluations.filter(campaign_id=dispatch.campaign_id).first()
        return link_to(evaluation, "the evaluation that made it eligible")

    @admin.display(description="attempts")
    def attempts_link(self, dispatch: Dispatch) -> str:
        count = dispatch.attempt_log.count()
        return link(
            changelist_url("dispatches.dispatchattempt", dispatch__id__exact=dispatch.pk),
            counted(count, ("attempt", "attempts")),
        )

    @admin.display(description="awards")
    def awards_link(self, dispatch: Dispatch) -> str:
        # Awards name the customer and the campaign, not the dispatch (SPEC §7): those of the pair.
        return link(
            changelist_url(
                "awards.award",
                customer_id=dispatch.purchase.customer_id,
                campaign__id__exact=dispatch.campaign_id,
            ),
            "this customer's awards in this campaign",
        )

    @admin.display(description="notifications")
    def notifications_link(self, dispatch: Dispatch) -> str:
        return link(
            changelist_url(
                "notifications.notification",
                customer_id=dispatch.purchase.customer_id,
                campaign__id__exact=dispatch.campaign_id,
            ),
            "this customer's notifications in this campaign",
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        found = prefix_q("purchase__external_id", term) | prefix_q("purchase__customer_id", term)
        try:
            found |= Q(pk=uuid.UUID(term))
        except ValueError:
            pass  # not a dispatch id
        return queryset.filter(found), False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The award page links to the dispatches of its customer and campaign.
        return lookup == "purchase__customer_id" or super().lookup_allowed(lookup, value, request)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dispatches.replay_dispatch")

    @admin.action(description="Replay the selected dead dispatches", permissions=["replay"])
    def replay_dead(self, request: HttpRequest, queryset: QuerySet[Dispatch]):
        return confirmed_replay(
            self,
            request,
            queryset,
            dead=queryset.filter(status=Dispatch.Status.DEAD).select_related("purchase", "campaign"),
            replay=lambda pk, *, actor: dispatch_replay(dispatch_id=pk, actor=actor),
            noun=("dispatch", "dispatches"),
            becomes="pending",
            describe=dispatch_label,
        )


@admin.register(DispatchAttempt)
class DispatchAttemptAdmin(RecordAdmin):
    list_display = ["attempted_at", "dispatch_label", "number", "outcome", "status_code", "latency_ms"]
    list_display_links = ["attempted_at"]
    list_filter = ["outcome", "dispatch__campaign", "dispatch__partner"]
    list_select_related = ["dispatch__purchase", "dispatch__campaign"]
    date_hierarchy = "attempted_at"
    show_full_result_count = False
    fields = ["dispatch_link", "number", "attempted_at", "outcome", "status_code", "latency_ms", "error"]
    readonly_fields = fields

    def record_title(self, attempt: DispatchAttempt) -> str:
        return f"{dispatch_label(attempt.dispatch)}, attempt {attempt.number}"

    @admin.display(description="dispatch")
    def dispatch_label(self, attempt: DispatchAttempt) -> str:
        return dispatch_label(attempt.dispatch)

    @admin.display(description="dispatch")
    def dispatch_link(self, attempt: DispatchAttempt) -> str:
        return link_to(attempt.dispatch, dispatch_label(attempt.dispatch))


class RetractionAttemptInline(DispatchAttemptInline):
    model = RetractionAttempt


@admin.register(Retraction)
class RetractionAdmin(RecordAdmin):
    """`purchase.retracted` messages of refunded purchases (ADR 0025); dead ones are replayed here."""

    list_display = ["label", "status", "reason", "partner", "attempts", "last_status_code", "created_at"]
    list_display_links = ["label"]
    list_filter = ["status", "partner"]
    list_select_related = ["dispatch__purchase", "dispatch__campaign", "partner"]
    search_fields = ["dispatch__purchase__external_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "dispatch_link",
        "partner",
        "reason",
        "eligible_value",
        "refunded_at",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "sent_at",
        "id",
    ]
    readonly_fields = fields
    inlines = [RetractionAttemptInline]
    actions = ["replay_dead"]

    def record_title(self, retraction: Retraction) -> str:
        return f"retraction of {dispatch_label(retraction.dispatch)} ({retraction.status})"

    @admin.display(description="retracted reward", ordering="dispatch__purchase__external_id")
    def label(self, retraction: Retraction) -> str:
        return dispatch_label(retraction.dispatch)

    @admin.display(description="dispatch")
    def dispatch_link(self, retraction: Retraction) -> str:
        return link_to(retraction.dispatch, dispatch_label(retraction.dispatch))

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dispatches.replay_dispatch")

    @admin.action(description="Replay the selected dead retractions", permissions=["replay"])
    def replay_dead(self, request: HttpRequest, queryset: QuerySet[Retraction]):
        return confirmed_replay(
            self,
            request,
            queryset,
            dead=queryset.filter(status=Retraction.Status.DEAD).select_related(
                "dispatch__purchase", "dispatch__campaign"
            ),
            replay=lambda pk, *, actor: retraction_replay(retraction_id=pk, actor=actor),
            noun=("retraction", "retractions"),
            becomes="pending",
            describe=lambda retraction: dispatch_label(retraction.dispatch),
        )
