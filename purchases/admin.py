"""Purchases in the brand's admin: read-only records, with the dead-lettered ones findable and retryable."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.money import money_str
from purchases.models import Evaluation, Purchase
from purchases.services import MAX_EVALUATION_ATTEMPTS, purchases_evaluation_retry


class EvaluationStateFilter(admin.SimpleListFilter):
    title = "evaluation"
    parameter_name = "evaluation"

    def lookups(self, request, model_admin):
        return [
            ("evaluated", "evaluated"),
            ("pending", "waiting"),
            ("dead", f"dead-lettered (failed {MAX_EVALUATION_ATTEMPTS}×)"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "evaluated":
            return queryset.filter(evaluated_at__isnull=False)
        if self.value() == "pending":
            return queryset.filter(evaluated_at__isnull=True, evaluation_attempts__lt=MAX_EVALUATION_ATTEMPTS)
        if self.value() == "dead":
            return queryset.filter(
                evaluated_at__isnull=True, evaluation_attempts__gte=MAX_EVALUATION_ATTEMPTS
            )
        return queryset


class EvaluationInline(admin.TabularInline):
    model = Evaluation
    fields = ["campaign", "campaign_version", "eligible", "eligible_value", "reason", "evaluated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "customer_id",
        "channel",
        "purchased_at",
        "currency",
        "total_display",
        "received_at",
        "evaluated_at",
        "evaluation_attempts",
    ]
    list_filter = [EvaluationStateFilter, "channel", "currency"]
    # Exact (case-sensitive) matches, served by the unique external_id and the customer_id indexes;
    # "=field" would be `iexact`, an UPPER() comparison no index serves (a scan of every purchase).
    search_fields = ["external_id__exact", "customer_id__exact"]
    date_hierarchy = "received_at"
    # Newest first by id, which follows arrival: the primary key serves it (there is no received_at index).
    ordering = ["-id"]
    show_full_result_count = False  # purchases are many: no COUNT(*) per page
    inlines = [EvaluationInline]
    actions = ["retry_evaluation"]

    @admin.display(description="total", ordering="total")
    def total_display(self, purchase: Purchase) -> str:
        # The list reads as the API and the partner body do; the change page shows the exact stored value.
        return money_str(purchase.total, purchase.currency)

    def get_readonly_fields(self, request, obj=None):
        # Purchases are what the sender said: never edited by hand (idempotency compares their hash).
        return [field.name for field in Purchase._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Evaluate again (dead-lettered or stuck purchases)")
    def retry_evaluation(self, request: HttpRequest, queryset: QuerySet[Purchase]) -> None:
        count = purchases_evaluation_retry(purchase_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request,
            f"{count} purchase(s) queued for evaluation; already evaluated ones were left alone.",
            messages.SUCCESS,
        )


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = [
        "purchase",
        "campaign",
        "campaign_version",
        "eligible",
        "eligible_value_display",
        "reason",
        "evaluated_at",
    ]
    list_filter = ["eligible", "reason", "campaign"]
    search_fields = ["=purchase__external_id"]
    list_select_related = ["purchase", "campaign"]
    show_full_result_count = False

    @admin.display(description="eligible value", ordering="eligible_value")
    def eligible_value_display(self, evaluation: Evaluation) -> str:
        return money_str(evaluation.eligible_value, evaluation.purchase.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
