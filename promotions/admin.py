"""The brand admin of promotions (SPEC §12): batches with their generation progress, codes, redemptions.

Writes go through the services (audited with the staff user as actor): a batch is created and generated
by `code_batch_create`, a stalled or failed generation resumes with the "generate" action, a redemption
is rolled back by `redemption_rollback`. The benefit is edited as fields, never as JSON.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.db.models.functions import Upper
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from campaigns.admin import CampaignAdmin
from core.actors import actor_for
from core.admin import AuditHistoryAdminMixin
from core.exceptions import ApplicationError, ValidationFailed
from promotions import services
from promotions.benefits import benefit_errors
from promotions.models import CodeBatch, Job, PromoCode, Redemption

BENEFIT_TYPES = [
    ("percent", "Percent off the eligible lines"),
    ("fixed", "Fixed amount off (capped by max discount)"),
    ("free_item", "A free item (by SKU)"),
]
BATCH_FIELDS = [
    "campaign",
    "count",
    "pattern",
    "charset",
    "prefix",
    "postfix",
    "max_redemptions",
    "per_customer_limit",
    "valid_from",
    "valid_until",
    "min_order_value",
]


def benefit_text(benefit: dict[str, Any]) -> str:
    kind = benefit.get("type")
    if kind == "percent":
        text = f"{benefit.get('value')} % off"
    elif kind == "fixed":
        text = f"{benefit.get('value')} off"
    elif kind == "free_item":
        text = f"free {benefit.get('sku')}"
    else:
        return "—"
    if benefit.get("max_discount") not in (None, ""):
        text += f" (at most {benefit['max_discount']})"
    return text


def progress_bar(job: Job | None) -> str:
    if job is None:
        return "—"
    detail = f"{job.done:,} / {job.total:,} · {job.status}"
    if job.error:
        detail += f" · {job.error}"
    return format_html(
        '<progress class="generation-progress" value="{}" max="100">{} %</progress> {} % <span>{}</span>',
        job.progress,
        job.progress,
        job.progress,
        detail,
    )


class CodeBatchForm(forms.ModelForm):
    benefit_type = forms.ChoiceField(label="Benefit", choices=BENEFIT_TYPES)
    benefit_value = forms.DecimalField(
        label="Value",
        required=False,
        max_digits=18,
        decimal_places=4,
        help_text="Percent (e.g. 10) or amount in the campaign's currency. Not used for a free item.",
    )
    benefit_max_discount = forms.DecimalField(
        label="Max discount", required=False, max_digits=18, decimal_places=4, help_text="Optional cap."
    )
    benefit_sku = forms.CharField(label="Free item SKU", required=False, max_length=200)

    class Meta:
        model = CodeBatch
        fields = BATCH_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        benefit = self.instance.benefit or {} if self.instance.pk else {}
        self.initial.setdefault("benefit_type", benefit.get("type", "percent"))
        for name in ("value", "max_discount", "sku"):
            if benefit.get(name) not in (None, ""):
                self.initial.setdefault(f"benefit_{name}", benefit[name])

    def benefit(self) -> dict[str, Any]:
        data = self.cleaned_data
        benefit: dict[str, Any] = {"type": data.get("benefit_type")}
        if data.get("benefit_type") == "free_item":
            benefit["sku"] = data.get("benefit_sku") or ""
        elif data.get("benefit_value") is not None:
            benefit["value"] = str(data["benefit_value"].normalize())
        if data.get("benefit_max_discount") is not None:
            benefit["max_discount"] = str(data["benefit_max_discount"].normalize())
        return benefit

    def batch_input(self) -> services.BatchInput:
        data = self.cleaned_data
        return services.BatchInput(
            count=data.get("count") or 0,
            pattern=data.get("pattern") or "",
            charset=data.get("charset") or "",
            prefix=data.get("prefix") or "",
            postfix=data.get("postfix") or "",
            max_redemptions=data.get("max_redemptions"),
            per_customer_limit=data.get("per_customer_limit"),
            valid_from=data.get("valid_from"),
            valid_until=data.get("valid_until"),
            benefit=self.benefit(),
            min_order_value=data.get("min_order_value"),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk or self.errors:
            return cleaned
        for key, problems in (benefit_errors(self.benefit()) or {}).items():
            field = f"benefit_{key}" if f"benefit_{key}" in self.fields else "benefit_type"
            for message in problems:
                self.add_error(field, message)
        try:
            services.code_batch_check(data=self.batch_input())
        except ValidationFailed as exc:
            for field, messages in (exc.fields or {}).items():
                if field == "benefit":
                    continue  # shown on the benefit fields above
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return cleaned

    def _post_clean(self) -> None:
        # The service builds the row (and its job); the benefit JSON is not a form field.
        self.instance.benefit = self.benefit() if hasattr(self, "cleaned_data") else {}
        super()._post_clean()


@admin.register(CodeBatch)
class CodeBatchAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    form = CodeBatchForm
    list_display = ["__str__", "campaign", "benefit_summary", "generation", "created_at"]
    list_filter = ["job__status"]
    search_fields = ["prefix", "postfix", "campaign__name"]
    list_select_related = ["campaign", "job"]
    actions = ["generate", "deactivate_codes", "reactivate_codes"]
    fieldsets = [
        (None, {"fields": ["campaign", "count", "pattern", "charset", "prefix", "postfix"]}),
        ("Limits and validity", {"fields": ["max_redemptions", "per_customer_limit", "valid_from", "valid_until"]}),
        ("Benefit", {"fields": ["benefit_type", "benefit_value", "benefit_max_discount", "benefit_sku", "min_order_value"]}),
    ]  # fmt: skip

    def get_fieldsets(self, request: HttpRequest, obj: CodeBatch | None = None) -> list:
        if obj is None:
            return self.fieldsets
        return [
            (None, {"fields": ["campaign", "count", "pattern", "prefix", "postfix", "generation", "codes"]}),
            ("Limits and validity", {"fields": ["max_redemptions", "per_customer_limit", "valid_from", "valid_until"]}),
            ("Benefit", {"fields": ["benefit_summary", "min_order_value"]}),
        ]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: CodeBatch | None = None) -> list[str]:
        # A batch's codes exist: the batch is a record of how they were made, not edited afterwards.
        if obj is None:
            return []
        return [*BATCH_FIELDS, "generation", "codes", "benefit_summary"]

    def has_change_permission(self, request: HttpRequest, obj: CodeBatch | None = None) -> bool:
        # A saved batch is a record of how its codes were made; "change" stays the right to run actions.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: CodeBatch | None = None) -> bool:
        return False  # redeemed codes keep their history (Redemption protects its code)

    @admin.display(description="generation")
    def generation(self, batch: CodeBatch) -> str:
        return progress_bar(batch.job)

    @admin.display(description="benefit")
    def benefit_summary(self, batch: CodeBatch) -> str:
        return benefit_text(batch.benefit)

    @admin.display(description="codes")
    def codes(self, batch: CodeBatch) -> str:
        url = reverse("admin:promotions_promocode_changelist")
        export = reverse("code-export", args=[batch.campaign_id])
        return format_html(
            '<a href="{}?batch__id__exact={}">{} codes</a> · <a href="{}">export the campaign\'s codes (CSV)</a>',
            url,
            batch.pk,
            f"{batch.codes.count():,}",
            export,
        )

    def save_model(self, request: HttpRequest, obj: CodeBatch, form: CodeBatchForm, change: bool) -> None:
        if change:
            return
        batch = services.code_batch_create(
            actor=actor_for(request.user),
            campaign_id=form.cleaned_data["campaign"].pk,
            data=form.batch_input(),
        )
        # The admin goes on with `obj` (log entry, redirect): make it the saved row.
        obj.pk, obj.job, obj.created_at, obj.benefit = batch.pk, batch.job, batch.created_at, batch.benefit

    @admin.action(
        permissions=["change"],
        description="Generate the codes of the selected batches (resume a stalled or failed job)",
    )
    def generate(self, request: HttpRequest, queryset: QuerySet[CodeBatch]) -> None:
        started = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                services.code_batch_generate_resume(actor=actor_for(request.user), batch_id=pk)
                started += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{pk}: {exc}", level="error")
        if started:
            self.message_user(request, f"Generation sent for {started} batch(es): progress shows here.")

    def _set_active(self, request: HttpRequest, queryset: QuerySet[CodeBatch], *, active: bool) -> None:
        changed = sum(
            services.codes_set_active(actor=actor_for(request.user), active=active, batch_id=pk)
            for pk in queryset.values_list("pk", flat=True)
        )
        verb = "reactivated" if active else "deactivated"
        self.message_user(request, f"{changed:,} code(s) {verb}.", messages.SUCCESS)

    @admin.action(permissions=["change"], description="Deactivate every code of the selected batches")
    def deactivate_codes(self, request: HttpRequest, queryset: QuerySet[CodeBatch]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(permissions=["change"], description="Reactivate every code of the selected batches")
    def reactivate_codes(self, request: HttpRequest, queryset: QuerySet[CodeBatch]) -> None:
        self._set_active(request, queryset, active=True)


class RedemptionInline(admin.TabularInline):
    """On a code's page: its redemption history."""

    model = Redemption
    fields = ["created_at", "customer_id", "order_ref", "status", "discount", "currency", "committed_at",
              "rolled_back_at", "rollback_reason"]  # fmt: skip
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "redemption history"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PromoCode)
class PromoCodeAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    list_display = [
        "code",
        "campaign",
        "batch",
        "redeemed_count",
        "reserved_count",
        "max_redemptions",
        "active",
    ]
    list_filter = ["active"]
    list_select_related = ["campaign", "batch"]
    search_fields = ["code"]
    show_full_result_count = False  # a brand may hold millions of codes
    fields = ["code", "campaign", "batch", "active", "max_redemptions", "per_customer_limit", "redeemed_count",
              "reserved_count", "valid_from", "valid_until", "benefit_summary", "min_order_value", "created_at"]  # fmt: skip
    readonly_fields = fields
    inlines = [RedemptionInline]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """A code typed in any case is found through the upper(code) unique index; else a substring search."""
        term = search_term.strip()
        if term:
            exact = queryset.alias(code_upper=Upper("code")).filter(code_upper=term.upper())
            if exact.exists():
                return exact, False
        return super().get_search_results(request, queryset, search_term)

    actions = ["deactivate", "reactivate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # codes come from batches

    def has_change_permission(self, request: HttpRequest, obj: PromoCode | None = None) -> bool:
        # A code's page is its record; "change" is the right to (de)activate codes from the list.
        return obj is None and super().has_change_permission(request, obj)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[PromoCode], *, active: bool) -> None:
        try:
            changed = services.codes_set_active(
                actor=actor_for(request.user),
                active=active,
                code_ids=list(queryset.values_list("pk", flat=True)),
            )
        except ApplicationError as exc:
            text = " ".join(m for ms in (exc.fields or {}).values() for m in ms) or exc.message
            self.message_user(request, text, messages.ERROR)
            return
        verb = "reactivated" if active else "deactivated"
        self.message_user(request, f"{changed:,} code(s) {verb}.", messages.SUCCESS)

    @admin.action(
        permissions=["change"], description="Deactivate the selected codes (they answer code_inactive)"
    )
    def deactivate(self, request: HttpRequest, queryset: QuerySet[PromoCode]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(permissions=["change"], description="Reactivate the selected codes")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[PromoCode]) -> None:
        self._set_active(request, queryset, active=True)

    def has_delete_permission(self, request: HttpRequest, obj: PromoCode | None = None) -> bool:
        return False

    @admin.display(description="benefit")
    def benefit_summary(self, code: PromoCode) -> str:
        return benefit_text(code.benefit)


@admin.register(Redemption)
class RedemptionAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    list_display = ["id", "code", "customer_id", "order_ref", "status", "discount", "currency", "created_at"]
    list_filter = ["status"]
    list_select_related = ["code"]
    search_fields = ["customer_id", "order_ref", "code__code"]
    show_full_result_count = False
    readonly_fields = ["code", "customer_id", "order_ref", "status", "discount", "currency", "expires_at",
                       "created_at", "committed_at", "rolled_back_at", "rollback_reason"]  # fmt: skip
    fields = readonly_fields
    actions = ["rollback"]

    def has_change_permission(self, request: HttpRequest, obj: Redemption | None = None) -> bool:
        # Nothing is edited on the page: "change" is the right to roll back (the action).
        return obj is None and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Redemption | None = None) -> bool:
        return False

    @admin.action(
        permissions=["change"], description="Roll back the selected redemptions (their uses are given back)"
    )
    def rollback(self, request: HttpRequest, queryset: QuerySet[Redemption]) -> None:
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                services.redemption_rollback(actor=actor_for(request.user), redemption_id=pk, reason="admin")
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{pk}: {exc}", level="error")
        if done:
            self.message_user(request, f"{done} redemption(s) rolled back.")


class CampaignCodeBatchInline(admin.TabularInline):
    """On the campaign page: its promotions (code batches), their benefit and generation progress."""

    model = CodeBatch
    fields = ["batch", "benefit", "max_redemptions", "valid_until", "generation"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name = "promotion (code batch)"
    verbose_name_plural = "promotions: code batches"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CodeBatch]:
        return super().get_queryset(request).select_related("job")

    @admin.display(description="batch")
    def batch(self, batch: CodeBatch) -> str:
        return str(batch)

    @admin.display(description="benefit")
    def benefit(self, batch: CodeBatch) -> str:
        return benefit_text(batch.benefit)

    @admin.display(description="generation")
    def generation(self, batch: CodeBatch) -> str:
        return progress_bar(batch.job)


# campaigns sits below promotions and does not know of it: this app adds its inline to the campaign
# admin (before archive's subclass of it is registered, INSTALLED_APPS order).
CampaignAdmin.inlines = [*CampaignAdmin.inlines, CampaignCodeBatchInline]
