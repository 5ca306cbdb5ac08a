"""The CRM's admin for campaigns: every write goes through campaigns.services, exactly like the API.

* list: status badges, filters, lifecycle and duplicate actions (409 reasons become messages);
  cancel and complete show a confirmation page first;
* change page: the form of campaigns/forms.py (no JSON), item rules inline, lifecycle buttons, the push
  preview, CSV import at the top (upload → preview → apply), export and template, transition history;
  dates in the brand's time zone; one save is one service call, so one version;
  "History" lists the campaign's audit events (its edits, item rules and transitions, from API and admin);
* "CRM editor" may change, "CRM viewer" may only look (groups from migration 0002).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigns import budgets, selectors, services, transfer
from campaigns.forms import (
    REWARD_TYPE_CHOICES,
    CampaignAdminForm,
    CampaignImportForm,
    CancelCampaignForm,
    CsvUploadForm,
    ItemRuleInlineForm,
)
from campaigns.item_rules_csv import TEMPLATE_CSV, CsvImportError, error_lines
from campaigns.models import Budget, Campaign, CampaignTransition, ItemRule
from campaigns.rules import ItemRuleSpec
from core.actors import actor_for
from core.admin import AuditHistoryAdminMixin, BrandTimezoneAdminMixin, brand_timezone_name
from core.exceptions import ApplicationError
from core.money import money_str
from core.templating import (
    DEFAULT_TEMPLATES,
    TEMPLATE_VARIABLES,
    NotificationRenderError,
    render_notification,
    sample_context,
    validate_notification_templates,
)

STATUS_COLOURS = {
    "draft": "#6c757d",
    "active": "#198754",
    "paused": "#fd7e14",
    "completed": "#0d6efd",
    "cancelled": "#dc3545",
    "archived": "#343a40",
}

LIFECYCLE_LABELS = {
    "activate": "Activate",
    "pause": "Pause",
    "resume": "Resume",
    "complete": "Complete",
    "cancel": "Cancel campaign",
    "approve": "Approve",
}

MAX_IMPORT_ERRORS_SHOWN = 20
# Lifecycle steps that cannot be undone ask first, on a page that says what will happen.
CONFIRMED_ACTIONS = {
    "cancel": "Cancelling cannot be undone. The campaign stops counting purchases at once and is never "
    "evaluated again; purchases already evaluated keep their result, and dispatches already pending "
    "or retrying are still sent to the partner. Its configuration can no longer change.",
    "complete": "Completing cannot be undone. Purchases made before now still count for the grace "
    "period (late purchases); after it the campaign is history, and it is archived later.",
}


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        return " ".join(exc.messages)
    return str(exc)


class ItemRuleInline(admin.TabularInline):
    model = ItemRule
    form = ItemRuleInlineForm
    fields = ["kind", "match", "value", "multiplier", "bonus_per_unit"]
    extra = 1

    def _editable(self, obj: Campaign | None) -> bool:
        return obj is None or obj.status in services.EDITABLE_STATUSES

    def has_add_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


class BudgetInlineForm(forms.ModelForm):
    """The budget as a CRM person sets it: four plain fields; the counters are shown, never typed."""

    class Meta:
        model = Budget
        fields = ["kind", "limit", "period", "pause_at_percent"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        limit = cleaned.get("limit")
        budget = self.instance
        if budget.pk and limit is not None and limit < budget.committed + budget.reserved:
            self.add_error(
                "limit",
                f"The budget already uses {budget.committed + budget.reserved}: the limit cannot go below it.",
            )
        return cleaned


class BudgetInline(admin.StackedInline):
    """SPEC §13: saved through `campaigns.budgets.budget_set` (CampaignAdmin.save_related), audited there."""

    model = Budget
    form = BudgetInlineForm
    fields = ["kind", "limit", "period", "pause_at_percent", "committed", "reserved", "period_start"]
    readonly_fields = ["committed", "reserved", "period_start"]
    can_delete = False
    max_num = 1
    extra = 0
    verbose_name_plural = "Budget (committed + reserved never exceed the limit)"


class CampaignTransitionInline(admin.TabularInline):
    model = CampaignTransition
    verbose_name = "lifecycle step"
    verbose_name_plural = "Lifecycle history (who, when, from, to)"
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _encode_upload(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def _decode_upload(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return b""


def _spec_text(spec: ItemRuleSpec) -> tuple[str, str, str, str, str]:
    return (
        ItemRule.Kind(spec.kind).label,
        ItemRule.Match(spec.match).label,
        spec.value,
        format(spec.multiplier.normalize(), "f"),
        format(spec.bonus_per_unit.normalize(), "f"),
    )


@admin.register(Campaign)
class CampaignAdmin(BrandTimezoneAdminMixin, AuditHistoryAdminMixin, admin.ModelAdmin):
    form = CampaignAdminForm
    change_form_template = "admin/campaigns/campaign/change_form.html"
    list_display = ["name", "status_badge", "kind", "starts_at", "ends_at", "partner", "currency", "version"]
    list_filter = ["status", "kind", "partner"]
    search_fields = ["name"]
    list_select_related = ["partner"]
    date_hierarchy = "starts_at"
    readonly_fields = [
        "status_badge", "push_preview", "template_variables", "version", "completed_at", "created_at",
        "updated_at",
    ]  # fmt: skip
    # Apps above this one add their own inlines (archive/admin.py: where an archived campaign's data went).
    inlines = [ItemRuleInline, BudgetInline, CampaignTransitionInline]
    actions = ["activate", "approve", "pause", "resume", "complete", "cancel", "duplicate", "export_json"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "status_badge", "partner"]}),
        ("Validity and eligibility", {"fields": ["starts_at", "ends_at", "purchase_channels", "currency",
                                                 "min_purchase_value", "attribution_window_hours",
                                                 "max_rewards_per_customer"]}),
        ("Reward", {"fields": ["reward_type", "reward_value", "reward_description"]}),
        ("Push notification", {"fields": ["notification_title", "notification_body", "push_preview",
                                          "template_variables"]}),
        ("Audit", {"fields": ["version", "completed_at", "created_at", "updated_at"]}),
    ]  # fmt: skip

    @admin.display(description="status", ordering="status")
    def status_badge(self, campaign: Campaign) -> str:
        colour = STATUS_COLOURS.get(campaign.status, "#6c757d")
        return format_html(
            '<span class="campaign-status campaign-status-{}" style="background:{};color:#fff;'
            'padding:2px 8px;border-radius:10px;font-weight:600">{}</span>',
            campaign.status,
            colour,
            campaign.get_status_display(),
        )

    @admin.display(description="preview")
    def push_preview(self, campaign: Campaign) -> str:
        """The push as a customer would see it for a sample award (updated live as you type)."""
        title, body = _preview(campaign.notification or {}, campaign.name or "Your campaign", campaign)
        return format_html(
            '<div id="push-preview" data-url="{}" style="max-width:420px;border:1px solid var(--hairline-color);'
            'border-radius:12px;padding:10px 14px;background:var(--darkened-bg)">'
            '<strong id="push-preview-title">{}</strong><div id="push-preview-body">{}</div>'
            '<div id="push-preview-error" class="errornote" style="display:none"></div></div>'
            '<p class="help">For a sample award: {} {} voucher XMAS-7KQ2 for customer cust-1042.</p>',
            reverse("admin:campaigns_campaign_preview_push"),
            title,
            body,
            "10.00",
            campaign.currency or "EUR",
        )

    # Read-only views of the reward and push parts (closed campaigns, CRM viewers).
    @admin.display(description="reward type")
    def reward_type(self, campaign: Campaign) -> str:
        return dict(REWARD_TYPE_CHOICES).get((campaign.reward or {}).get("type", ""), "—")

    @admin.display(description="reward value")
    def reward_value(self, campaign: Campaign) -> str:
        value = (campaign.reward or {}).get("value", "")
        kind = (campaign.reward or {}).get("type")
        return f"{value} {campaign.currency}" if value and kind == "voucher" else value or "—"

    @admin.display(description="reward description")
    def reward_description(self, campaign: Campaign) -> str:
        return (campaign.reward or {}).get("description", "") or "—"

    @admin.display(description="push title")
    def notification_title(self, campaign: Campaign) -> str:
        return (campaign.notification or {}).get("title", "") or "(default)"

    @admin.display(description="push body")
    def notification_body(self, campaign: Campaign) -> str:
        return (campaign.notification or {}).get("body", "") or "(default)"

    @admin.display(description="variables")
    def template_variables(self, campaign: Campaign) -> str:
        rows = format_html_join(
            "",
            "<tr><td><code>{{{{ {} }}}}</code></td><td>{}</td></tr>",
            ((name, meaning) for name, (meaning, _sample) in TEMPLATE_VARIABLES.items()),
        )
        return format_html('<table class="template-variables">{}</table>', rows)

    # ---------------------------------------------------------------- editing through the services

    def get_form(self, request: HttpRequest, obj: Campaign | None = None, **kwargs: Any):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"timezone_name": brand_timezone_name()})

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status not in services.EDITABLE_STATUSES:
            form_fields = [*services.EDITABLE_FIELDS, "reward_type", "reward_value", "reward_description",
                           "notification_title", "notification_body"]  # fmt: skip
            readonly += [field for field in form_fields if field not in readonly and field not in (
                "reward", "notification")]  # fmt: skip
        return readonly

    def save_model(self, request: HttpRequest, obj: Campaign, form: forms.ModelForm, change: bool) -> None:
        """Nothing yet: `save_related` saves the campaign and its item rules in one service call, so
        one save is one version (a new campaign with two rules is version 1, not 3)."""

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        actor = actor_for(request.user)
        rules_formset = next((formset for formset in formsets if formset.model is ItemRule), None)
        edits = _rule_edits(rules_formset) if rules_formset is not None else services.ItemRuleEdits()
        configuration = form.configuration()
        if change:
            data = {field: configuration[field] for field in form.configuration_changed}
            campaign = services.campaign_update(
                campaign_id=form.instance.pk, actor=actor, data=data, item_rules=edits
            )
        else:
            campaign = services.campaign_create(actor=actor, **configuration, item_rules=edits.added)
        obj = form.instance
        # The admin goes on with `obj` (other inlines, redirect, log): make it the saved row.
        for field in Campaign._meta.concrete_fields:
            setattr(obj, field.attname, getattr(campaign, field.attname))
        obj._state.adding = False
        obj._state.db = campaign._state.db
        for formset in formsets:
            if formset.model is Budget:
                self._save_budget(request, formset, campaign)
            elif formset is not rules_formset:
                self.save_formset(request, form, formset, change)
        self._warn(request, campaign)

    def _save_budget(self, request: HttpRequest, formset: Any, campaign: Campaign) -> None:
        # Saved by the service, not the formset: the change message has nothing of the formset's own.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for budget_form in formset.forms:
            if not budget_form.has_changed() or not budget_form.cleaned_data:
                continue
            data = budget_form.cleaned_data
            try:
                budgets.budget_set(
                    campaign_id=campaign.pk,
                    actor=actor_for(request.user),
                    kind=data["kind"],
                    limit=data["limit"],
                    period=data["period"],
                    pause_at_percent=data["pause_at_percent"],
                )
            except ApplicationError as exc:
                self.message_user(request, f"Budget not saved: {_error_text(exc)}", messages.ERROR)

    def _warn(self, request: HttpRequest, campaign: Campaign) -> None:
        """Saved, but probably not what was meant: say so (warnings, not errors)."""
        if campaign.ends_at <= timezone.now() and campaign.status in services.EDITABLE_STATUSES:
            self.message_user(
                request,
                f"“{campaign.name}” ended on {timezone.localtime(campaign.ends_at):%Y-%m-%d %H:%M} "
                f"({brand_timezone_name()}): it cannot be activated and no purchase counts.",
                messages.WARNING,
            )
        if campaign.partner_id is None:
            self.message_user(
                request,
                f"“{campaign.name}” has no partner yet: it cannot be activated until it has one.",
                messages.WARNING,
            )

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        services.campaign_delete(campaign_id=obj.pk, actor=actor_for(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        # Only drafts can be deleted (the same rule as the API's 409); Django's delete page confirms.
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Bulk delete would bypass "drafts only"; delete from the change page instead.
        actions.pop("delete_selected", None)
        return actions

    # ---------------------------------------------------------------- lifecycle actions (list page)

    def _run_lifecycle(self, request: HttpRequest, queryset: QuerySet[Campaign], action: str):
        if action in CONFIRMED_ACTIONS and request.POST.get("confirmed") != "yes":
            return self._confirm_page(request, list(queryset.order_by("pk")), action, bulk=True)
        service = services.LIFECYCLE_ACTIONS[action]
        actor = actor_for(request.user)
        done = 0
        extra = (
            {"identity": services.approval_identity(request.user)}
            if action in ("activate", "approve")
            else {}
        )
        for campaign in queryset.order_by("pk"):
            try:
                service(
                    campaign_id=campaign.pk, actor=actor, note=request.POST.get("note", "")[:500], **extra
                )
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{campaign.name}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(
                request, f"{LIFECYCLE_LABELS[action]}: {done} campaign(s) done.", messages.SUCCESS
            )
        return None

    def _confirm_page(
        self, request: HttpRequest, campaigns: list[Campaign], action: str, *, bulk: bool
    ) -> TemplateResponse:
        allowed_from = services.TRANSITIONS[action][0]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{LIFECYCLE_LABELS[action]}: are you sure?",
            "action": action,
            "action_label": LIFECYCLE_LABELS[action],
            "consequences": CONFIRMED_ACTIONS[action],
            "campaigns": [c for c in campaigns if c.status in allowed_from],
            "skipped": [c for c in campaigns if c.status not in allowed_from],
            "bulk": bulk,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "form": CancelCampaignForm(),
            "change_url": None if bulk else self._change_url(campaigns[0].pk),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/confirm_lifecycle.html", context)

    @admin.action(description="Activate selected campaigns", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Campaign]):
        return self._run_lifecycle(request, queryset, "activate")

    @admin.action(
        description="Approve selected campaigns (pending approval → active)", permissions=["change"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[Campaign]):
        return self._run_lifecycle(request, queryset, "approve")

    @admin.action(description="Pause selected campaigns", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]):
        return self._run_lifecycle(request, queryset, "pause")

    @admin.action(description="Resume selected campaigns", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]):
        return self._run_lifecycle(request, queryset, "resume")

    @admin.action(description="Complete selected campaigns…", permissions=["change"])
    def complete(self, request: HttpRequest, queryset: QuerySet[Campaign]):
        return self._run_lifecycle(request, queryset, "complete")

    @admin.action(description="Cancel selected campaigns…", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]):
        return self._run_lifecycle(request, queryset, "cancel")

    @admin.action(
        description="Duplicate selected campaigns (as drafts, with their item rules)", permissions=["add"]
    )
    def duplicate(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        actor = actor_for(request.user)
        for campaign in queryset.order_by("pk"):
            try:
                copy = services.campaign_duplicate(campaign_id=campaign.pk, actor=actor)
            except (ApplicationError, DjangoValidationError) as exc:
                self.message_user(request, f"{campaign.name}: {_error_text(exc)}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Duplicated {campaign.name!r} as {copy.name!r}.", messages.SUCCESS
                )

    # ---------------------------------------------------------------- change page: buttons, preview, CSV

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("preview-push/", view(self.preview_push_view), name=f"{prefix}_preview_push"),
            path("import/", view(self.import_campaigns_view), name=f"{prefix}_import"),
            path("item-rules-template.csv", view(self.item_rules_template_view), name=f"{prefix}_rules_template"),
            path("<path:object_id>/lifecycle/<str:action>/", view(self.lifecycle_view), name=f"{prefix}_lifecycle"),
            path("<path:object_id>/import-item-rules/", view(self.import_item_rules_view),
                 name=f"{prefix}_import_rules"),
            path("<path:object_id>/item-rules.csv", view(self.export_item_rules_view), name=f"{prefix}_export_rules"),
            *super().get_urls(),
        ]  # fmt: skip

    def _change_url(self, campaign_id: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[campaign_id])

    def lifecycle_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_change_permission(request, campaign) or action not in services.LIFECYCLE_ACTIONS:
            raise PermissionDenied
        if action in CONFIRMED_ACTIONS and (
            request.method != "POST" or request.POST.get("confirmed") != "yes"
        ):
            return self._confirm_page(request, [campaign], action, bulk=False)
        if request.method != "POST":
            raise PermissionDenied
        try:
            campaign = services.LIFECYCLE_ACTIONS[action](
                campaign_id=campaign.pk,
                actor=actor_for(request.user),
                note=request.POST.get("note", "")[:500],
                **(
                    {"identity": services.approval_identity(request.user)}
                    if action in ("activate", "approve")
                    else {}
                ),
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, f"{campaign.name} is now {campaign.get_status_display().lower()}.", messages.SUCCESS
            )
        return HttpResponseRedirect(self._change_url(campaign.pk))

    @admin.action(
        description="Export selected campaigns (JSON file, for the import page)", permissions=["view"]
    )
    def export_json(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse:
        document = transfer.campaigns_export(ids=list(queryset.values_list("pk", flat=True)))
        response = HttpResponse(
            json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="campaigns.json"'
        return response

    def import_campaigns_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a JSON export → preview (a dry run: what would be created, or the errors) → import."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Import campaigns"}
        form = CampaignImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST":
            text = request.POST.get("document", "")
            if request.POST.get("step") != "apply":
                if form.is_valid():
                    text = form.cleaned_data["file"].read().decode("utf-8", errors="replace")
                else:
                    return TemplateResponse(
                        request, "admin/campaigns/campaign/import_campaigns.html", {**context, "form": form}
                    )
            on_conflict = request.POST.get("on_conflict", "error")
            try:
                document = json.loads(text)
                result = transfer.campaigns_import(
                    document=document,
                    actor=actor_for(request.user),
                    dry_run=request.POST.get("step") != "apply",
                    on_conflict=on_conflict,
                )
            except (ValueError, ApplicationError) as exc:
                problems = (
                    [f"{field}: {' '.join(messages)}" for field, messages in exc.fields.items()]
                    if isinstance(exc, ApplicationError) and exc.fields
                    else [exc.message if isinstance(exc, ApplicationError) else f"Not a JSON file: {exc}"]
                )
                return TemplateResponse(
                    request,
                    "admin/campaigns/campaign/import_campaigns.html",
                    {**context, "form": CampaignImportForm(), "problems": problems[:MAX_IMPORT_ERRORS_SHOWN]},
                )
            if result.dry_run:
                return TemplateResponse(
                    request,
                    "admin/campaigns/campaign/import_campaigns.html",
                    {**context, "preview": result.campaigns, "document": text, "on_conflict": on_conflict},
                )
            self.message_user(
                request, f"Imported {len(result.campaigns)} campaign(s) as drafts.", messages.SUCCESS
            )
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_changelist"))
        return TemplateResponse(
            request, "admin/campaigns/campaign/import_campaigns.html", {**context, "form": form}
        )

    def preview_push_view(self, request: HttpRequest) -> JsonResponse:
        """POST title, body (and the campaign's name, currency) → the push rendered for a sample award."""
        if request.method != "POST" or not self.has_view_or_change_permission(request):
            raise PermissionDenied
        notification = {
            key: request.POST.get(key, "") for key in ("title", "body") if request.POST.get(key, "").strip()
        }
        try:
            validate_notification_templates(notification)
        except DjangoValidationError as exc:
            return JsonResponse({"errors": exc.message_dict["notification"]}, status=400)
        title, body = _preview(
            notification, request.POST.get("campaign_name") or "Your campaign", None,
            currency=request.POST.get("currency") or "EUR",
        )  # fmt: skip
        return JsonResponse({"title": title, "body": body, "errors": []})

    def item_rules_template_view(self, request: HttpRequest) -> HttpResponse:
        response = HttpResponse(TEMPLATE_CSV, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="item-rules-template.csv"'
        return response

    def export_item_rules_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_view_or_change_permission(request, campaign):
            raise PermissionDenied
        response = HttpResponse(
            selectors.item_rules_csv_export(campaign_id=campaign.pk), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-item-rules.csv"'
        return response

    def import_item_rules_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Upload → preview of what changes → apply (the preview's form posts the file back)."""
        campaign = get_object_or_404(Campaign, pk=object_id)
        if request.method != "POST" or not self.has_change_permission(request, campaign):
            raise PermissionDenied
        if request.POST.get("step") == "apply":
            return self._apply_import(request, campaign)
        form = CsvUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            self.message_user(request, "Choose a CSV file to import.", messages.ERROR)
            return HttpResponseRedirect(self._change_url(campaign.pk))
        content = form.cleaned_data["file"].read()
        remove_missing = form.cleaned_data["remove_missing"]
        try:
            parsed, plan = selectors.item_rules_csv_preview(
                campaign_id=campaign.pk, content=content, remove_missing=remove_missing
            )
        except CsvImportError as exc:
            self._report_csv_error(request, exc)
            return HttpResponseRedirect(self._change_url(campaign.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": campaign,
            "title": f"Import item rules into “{campaign.name}”: preview",
            "parsed": parsed,
            "plan": plan,
            "added": [_spec_text(spec) for spec in plan.added],
            "changed": [(_spec_text(change.before), _spec_text(change.after)) for change in plan.changed],
            "removed": [_spec_text(spec) for _rule_id, spec in plan.removed],
            "content": _encode_upload(content),
            "remove_missing": remove_missing,
            "change_url": self._change_url(campaign.pk),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/import_preview.html", context)

    def _apply_import(self, request: HttpRequest, campaign: Campaign) -> HttpResponse:
        try:
            result = services.item_rules_apply_csv(
                campaign_id=campaign.pk,
                actor=actor_for(request.user),
                content=_decode_upload(request.POST.get("content", "")),
                remove_missing=request.POST.get("remove_missing") == "1",
                expected_digest=request.POST.get("digest", ""),
            )
        except CsvImportError as exc:
            self._report_csv_error(request, exc)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            plan = result.plan
            self.message_user(
                request,
                f"Item rules imported: {len(plan.added)} added, {len(plan.changed)} changed, "
                f"{len(plan.removed)} removed, {plan.unchanged} unchanged. "
                + (f"The campaign is now at version {result.campaign.version}." if not plan.is_empty
                   else "Nothing changed, so the version stays the same."),
                messages.SUCCESS,
            )  # fmt: skip
        return HttpResponseRedirect(self._change_url(campaign.pk))

    def _report_csv_error(self, request: HttpRequest, exc: CsvImportError) -> None:
        lines = error_lines(exc)
        for line in lines[: MAX_IMPORT_ERRORS_SHOWN + 1]:
            self.message_user(request, line, messages.ERROR)
        if len(lines) > MAX_IMPORT_ERRORS_SHOWN + 1:
            self.message_user(
                request, f"… and {len(lines) - MAX_IMPORT_ERRORS_SHOWN - 1} more.", messages.ERROR
            )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = dict(extra_context or {})
        campaign = Campaign.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if campaign is not None and self.has_change_permission(request, campaign):
            extra_context["lifecycle_actions"] = [
                {"name": action, "label": LIFECYCLE_LABELS[action], "confirm": action in CONFIRMED_ACTIONS}
                for action in services.LIFECYCLE_ACTIONS
                if campaign.status in services.TRANSITIONS[action][0]
            ]
            extra_context["can_import_item_rules"] = campaign.status in services.EDITABLE_STATUSES
            extra_context["csv_upload_form"] = CsvUploadForm()
        return super().change_view(request, object_id, form_url, extra_context)


def _preview(
    notification: dict[str, Any],
    campaign_name: str,
    campaign: Campaign | None,
    *,
    currency: str | None = None,
) -> tuple[str, str]:
    currency = currency or (campaign.currency if campaign and campaign.currency else "EUR")
    try:
        value = money_str(10, currency)
    except ValueError:
        value, currency = "10.00", "EUR"
    context = sample_context(campaign_name=campaign_name, award_value=value, award_currency=currency)
    try:
        return render_notification(notification or DEFAULT_TEMPLATES, context)
    except NotificationRenderError as exc:
        return "(this template does not render)", str(exc)


def _rule_edits(formset: Any) -> services.ItemRuleEdits:
    formset.save(commit=False)
    return services.ItemRuleEdits(
        added=[
            ItemRuleSpec(rule.kind, rule.match, rule.value, rule.multiplier, rule.bonus_per_unit)
            for rule in formset.new_objects
        ],
        changed={
            rule.pk: {field: getattr(rule, field) for field in fields}
            for rule, fields in formset.changed_objects
        },
        removed=[rule.pk for rule in formset.deleted_objects],
    )
