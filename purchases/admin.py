"""Purchases in the brand's admin, as a CRM person reads them: view-only, items as a table, and each
evaluation explained line by line by the rules engine, with links down the pipeline."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from campaigns.rules import COUNTED_AS_IS, KIND_BLACKLIST, LineExplanation, Reason
from core.money import money_str
from purchases.admin_kit import RecordAdmin, changelist_url, counted, link, link_to
from purchases.models import Evaluation, Purchase, PurchaseRefund
from purchases.selectors import prefix_q, purchase_evaluations_explained
from purchases.services import MAX_EVALUATION_ATTEMPTS, purchases_evaluation_retry

REASON_LABELS = {
    Reason.CAMPAIGN_NOT_ACTIVE: "campaign paused",
    Reason.OUTSIDE_VALIDITY: "bought outside the campaign's dates",
    Reason.CHANNEL_NOT_ALLOWED: "channel not in the campaign",
    Reason.CURRENCY_MISMATCH: "currency differs from the campaign's",
    Reason.NO_ELIGIBLE_ITEMS: "no item counts",
    Reason.BELOW_MINIMUM: "below the campaign's minimum",
    Reason.CUSTOMER_LIMIT_REACHED: "customer already has the campaign's most rewards",
    Reason.BUDGET_EXHAUSTED: "campaign budget used up",
}
MATCH_LABELS = {"sku": "SKU", "category": "category"}
PREFIX_SEARCH_HELP = (
    "Searches the start of the purchase's external id or the customer id, letter case as sent: "
    "“ORD-2026” finds ORD-2026-0001, ORD-2026-0002, …"
)


def verdict_label(eligible: bool, reason: str | None) -> str:
    return "eligible" if eligible else f"not eligible: {REASON_LABELS.get(reason, reason)}"


def number_str(value: Decimal) -> str:
    """A multiplier as people write it: 2, 1.5 (never 2.0000 or 2E+1)."""
    return format(value.normalize(), "f")


def rule_label(explained: LineExplanation, currency: str) -> str:
    rule = explained.rule
    if explained.decided_by == COUNTED_AS_IS or rule is None:
        return "no rule: counted as is"
    matched = f"{MATCH_LABELS[rule.match]} {rule.value}"
    if explained.decided_by == KIND_BLACKLIST:
        return f"blacklist ({matched}): never counts"
    label = f"whitelist ({matched}): × {number_str(rule.multiplier)}"
    if rule.bonus_per_unit:
        label += f" + {money_str(rule.bonus_per_unit, currency)} {currency} per unit"
    return label


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


@admin.register(Purchase)
class PurchaseAdmin(RecordAdmin):
    list_display = [
        "external_id",
        "customer_id",
        "channel",
        "purchased_at",
        "total_display",
        "received_at",
        "evaluated_at",
    ]
    list_filter = [EvaluationStateFilter, "channel", "currency"]
    # The search box runs `get_search_results` below: a prefix range on each field's btree index.
    search_fields = ["external_id", "customer_id"]
    search_help_text = PREFIX_SEARCH_HELP
    date_hierarchy = "received_at"
    # Newest first by id, which follows arrival: the primary key serves it (there is no received_at index).
    ordering = ["-id"]
    show_full_result_count = False  # purchases are many: no COUNT(*) per page
    change_form_template = "admin/purchases/purchase/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "external_id",
                    "customer_id",
                    "channel",
                    "purchased_at",
                    "store_id",
                    "total_display",
                ]
            },
        ),
        (
            "Pipeline",
            {
                "fields": [
                    "received_at",
                    "evaluated_at",
                    "evaluation_attempts",
                    "dispatch_links",
                    "refund_links",
                ]
            },
        ),
        ("Technical", {"classes": ["collapse"], "fields": ["id", "body_hash"]}),
    ]
    readonly_fields = [
        "external_id",
        "customer_id",
        "channel",
        "purchased_at",
        "store_id",
        "total_display",
        "received_at",
        "evaluated_at",
        "evaluation_attempts",
        "dispatch_links",
        "refund_links",
        "id",
        "body_hash",
    ]
    actions = ["retry_evaluation"]

    @admin.display(description="refunds")
    def refund_links(self, purchase: Purchase) -> str:
        count = purchase.refunds.count()
        return link(
            changelist_url("purchases.purchaserefund", purchase__id__exact=purchase.pk),
            counted(count, ("refund", "refunds")),
        )

    @admin.display(description="total", ordering="total")
    def total_display(self, purchase: Purchase) -> str:
        return f"{money_str(purchase.total, purchase.currency)} {purchase.currency}"

    @admin.display(description="dispatches")
    def dispatch_links(self, purchase: Purchase) -> str:
        count = purchase.dispatches.count()
        if not count:
            return "none (no campaign found this purchase eligible, or it is not evaluated yet)"
        return link(
            changelist_url("dispatches.dispatch", purchase__id__exact=purchase.pk),
            counted(count, ("dispatch", "dispatches")),
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(prefix_q("external_id", term) | prefix_q("customer_id", term)), False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # A purchase the evaluation failed on is an engineer's matter (superusers), not the CRM groups'.
        return request.user.has_perm("purchases.change_purchase")

    def record_context(self, purchase: Purchase) -> dict[str, Any]:
        currency = purchase.currency
        items = [
            {
                "sku": item["sku"],
                "category": item.get("category") or "—",
                "quantity": item["quantity"],
                "unit_price": money_str(Decimal(str(item["unit_price"])), currency),
                "line_value": money_str(int(item["quantity"]) * Decimal(str(item["unit_price"])), currency),
            }
            for item in purchase.items
        ]
        dispatches = {dispatch.campaign_id: dispatch for dispatch in purchase.dispatches.all()}
        evaluations = []
        for explained in purchase_evaluations_explained(purchase=purchase):
            evaluation = explained.evaluation
            explanation = explained.explanation
            evaluations.append(
                {
                    "evaluation": evaluation,
                    "evaluation_link": link_to(evaluation, "evaluation"),
                    "campaign_link": link_to(evaluation.campaign),
                    "verdict": verdict_label(evaluation.eligible, evaluation.reason),
                    "eligible": evaluation.eligible,
                    "eligible_value": money_str(evaluation.eligible_value, currency),
                    "lines_counted": explanation.lines_counted,
                    "lines": [
                        {
                            "sku": line.line.sku,
                            "category": line.line.category or "—",
                            "line_value": money_str(line.line_total, currency),
                            "counted_value": money_str(line.counted_value, currency),
                            "rule": rule_label(line, evaluation.campaign.currency),
                            "decided_by": line.decided_by,
                        }
                        for line in explanation.lines
                    ],
                    "counted_total": money_str(explanation.counted_total, currency),
                    "same_version": explained.same_version,
                    "explained_version": explained.explained_version,
                    "agrees": explained.agrees,
                    "dispatch_link": link_to(dispatches.get(evaluation.campaign_id), "dispatch"),
                }
            )
        return {"items": items, "currency": currency, "explained_evaluations": evaluations}

    @admin.action(description="Evaluate again (dead-lettered or stuck purchases)", permissions=["retry"])
    def retry_evaluation(self, request: HttpRequest, queryset: QuerySet[Purchase]) -> None:
        count = purchases_evaluation_retry(purchase_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request,
            f"{count} purchase(s) queued for evaluation; already evaluated ones were left alone.",
            messages.SUCCESS,
        )


@admin.register(Evaluation)
class EvaluationAdmin(RecordAdmin):
    list_display = [
        "purchase",
        "campaign",
        "campaign_version",
        "verdict",
        "eligible_value_display",
        "evaluated_at",
    ]
    list_display_links = ["purchase"]
    list_filter = ["eligible", "reason", "campaign"]
    search_fields = ["purchase__external_id"]
    search_help_text = "Searches the start of the purchase's external id, letter case as sent."
    list_select_related = ["purchase", "campaign"]
    show_full_result_count = False
    fields = [
        "purchase_link",
        "campaign_link",
        "campaign_version",
        "verdict",
        "eligible_value_display",
        "evaluated_at",
        "dispatch_link",
    ]
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(prefix_q("purchase__external_id", term)), False

    def record_title(self, evaluation: Evaluation) -> str:
        return f"{evaluation.purchase.external_id} × {evaluation.campaign}"

    @admin.display(description="verdict", ordering="eligible")
    def verdict(self, evaluation: Evaluation) -> str:
        return verdict_label(evaluation.eligible, evaluation.reason)

    @admin.display(description="eligible value", ordering="eligible_value")
    def eligible_value_display(self, evaluation: Evaluation) -> str:
        currency = evaluation.purchase.currency
        return f"{money_str(evaluation.eligible_value, currency)} {currency}"

    @admin.display(description="purchase (explained line by line)")
    def purchase_link(self, evaluation: Evaluation) -> str:
        return link_to(evaluation.purchase)

    @admin.display(description="campaign")
    def campaign_link(self, evaluation: Evaluation) -> str:
        return link_to(evaluation.campaign)

    @admin.display(description="dispatch")
    def dispatch_link(self, evaluation: Evaluation) -> str:
        dispatch = evaluation.purchase.dispatches.filter(campaign_id=evaluation.campaign_id).first()
        return link_to(dispatch, "dispatch") if dispatch else "none (not eligible)"


@admin.register(PurchaseRefund)
class PurchaseRefundAdmin(RecordAdmin):
    """Refunds as records (SPEC §12): which lines came back, and what the re-evaluation decided."""

    list_display = ["created_at", "purchase", "lines", "whole", "complete", "actor"]
    list_filter = ["complete", "whole"]
    list_select_related = ["purchase"]
    search_fields = ["purchase__external_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "purchase_link",
        "created_at",
        "actor",
        "lines",
        "whole",
        "complete",
        "verdicts",
        "idempotency_key",
    ]
    readonly_fields = fields

    def record_title(self, refund: PurchaseRefund) -> str:
        return f"refund of {refund.purchase.external_id} on {refund.created_at:%Y-%m-%d %H:%M}"

    @admin.display(description="purchase")
    def purchase_link(self, refund: PurchaseRefund) -> str:
        return link_to(refund.purchase, refund.purchase.external_id)

    @admin.display(description="refunded lines")
    def lines(self, refund: PurchaseRefund) -> str:
        return ", ".join(
            f"{line['quantity']} × {line['sku']} at {line['unit_price']}" for line in refund.items
        )

    @admin.display(description="re-evaluation")
    def verdicts(self, refund: PurchaseRefund) -> str:
        parts = []
        for entry in refund.outcome.get("evaluations", []):
            if not entry.get("was_eligible"):
                continue
            if entry["eligible"]:
                parts.append(f"campaign {entry['campaign_id']}: still eligible ({entry['eligible_value']})")
            else:
                reason = REASON_LABELS.get(entry["reason"], entry["reason"])
                parts.append(f"campaign {entry['campaign_id']}: {reason}, reward {entry['dispatch']}")
        return "; ".join(parts) or "no reward was concerned"
