"""The CRM's admin for campaigns: every write goes through campaigns.services, exactly like the API.

* list: status badges, filters, lifecycle and duplicate actions (409 reasons become messages);
* change page: item rules inline, lifecycle buttons, CSV import, read-only transition history;
  "History" lists the campaign's audit events (its edits, item rules and transitions, from API and admin);
* "CRM editor" may change, "CRM viewer" may only look (groups from migration 0002).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from campaigns import services
from campaigns.models import Campaign, CampaignTransition, ItemRule
from campaigns.serializers import decimal_text
from core.actors import actor_for
from core.admin import AuditHistoryAdminMixin
from core.exceptions import ApplicationError

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
}

MAX_IMPORT_ERRORS_SHOWN = 20


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        return " ".join(exc.messages)
    return str(exc)


class CampaignAdminForm(forms.ModelForm):
    purchase_channels = forms.MultipleChoiceField(
        choices=Campaign.Channel.choices, widget=forms.CheckboxSelectMultiple
    )
    reward = forms.JSONField(
        required=False,
        help_text='{"type": "voucher" or "special_offer", "value": "10.00", "description": "10 € off"}',
    )
    notification = forms.JSONField(
        required=False,
        help_text='Push templates: {"title": "You won!", '
        '"body": "{{ award.value }} for {{ campaign.name }}"}',
    )

    class Meta:
        model = Campaign
        fields = list(services.EDITABLE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.min_purchase_value is not None:
            # "25.00" for EUR rather than the column's "25.0000".
            self.initial["min_purchase_value"] = decimal_text(
                self.instance.min_purchase_value, currency=self.instance.currency
            )

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            # The same checks as the API (reward/notification shapes, currency, decimals, partner).
            services.campaign_validate(self.instance)
        except DjangoValidationError as exc:
            fresh = {
                field: messages
                for field, messages in exc.message_dict.items()
                if field not in self._errors and (field in self.fields or field == "__all__")
            }
            if fresh:
                self._update_errors(DjangoValidationError(fresh))


class ItemRuleInline(admin.TabularInline):
    model = ItemRule
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


@admin.register(Campaign)
class CampaignAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ["name", "status_badge", "kind", "starts_at", "ends_at", "partner", "currency", "version"]
    list_filter = ["status", "kind", "partner"]
    search_fields = ["name"]
    list_select_related = ["partner"]
    date_hierarchy = "starts_at"
    readonly_fields = ["status_badge", "version", "completed_at", "created_at", "updated_at"]
    # Apps above this one add their own inlines (archive/admin.py: where an archived campaign's data went).
    inlines = [ItemRuleInline, CampaignTransitionInline]
    actions = ["activate", "pause", "resume", "complete", "cancel", "duplicate"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "status_badge", "partner"]}),
        ("Validity and eligibility", {"fields": ["starts_at", "ends_at", "purchase_channels", "currency",
                                                 "min_purchase_value"]}),
        ("Reward and push notification", {"fields": ["reward", "notification"]}),
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

    # ---------------------------------------------------------------- editing through the services

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status not in services.EDITABLE_STATUSES:
            readonly += [field for field in services.EDITABLE_FIELDS if field not in readonly]
        return readonly

    def save_model(self, request: HttpRequest, obj: Campaign, form: forms.ModelForm, change: bool) -> None:
        actor = actor_for(request.user)
        if change:
            data = {
                field: form.cleaned_data[field]
                for field in form.changed_data
                if field in services.EDITABLE_FIELDS
            }
            services.campaign_update(campaign_id=obj.pk, actor=actor, data=data)
            obj.refresh_from_db()
            return
        created = services.campaign_create(
            actor=actor, **{field: getattr(obj, field) for field in services.EDITABLE_FIELDS}
        )
        # The admin goes on with `obj` (inlines, redirect): make it the saved row.
        for field in Campaign._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is not ItemRule:
            super().save_formset(request, form, formset, change)
            return
        campaign = form.instance
        actor = actor_for(request.user)
        formset.save(commit=False)
        for rule in formset.deleted_objects:
            services.item_rule_remove(campaign_id=campaign.pk, rule_id=rule.pk, actor=actor)
        for rule, changed in formset.changed_objects:
            services.item_rule_update(
                campaign_id=campaign.pk,
                rule_id=rule.pk,
                actor=actor,
                data={field: getattr(rule, field) for field in changed},
            )
        for rule in formset.new_objects:
            services.item_rule_add(
                campaign_id=campaign.pk,
                actor=actor,
                kind=rule.kind,
                match=rule.match,
                value=rule.value,
                multiplier=rule.multiplier,
                bonus_per_unit=rule.bonus_per_unit,
            )

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        services.campaign_delete(campaign_id=obj.pk, actor=actor_for(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        # Only drafts can be deleted (the same rule as the API's 409).
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Bulk delete would bypass "drafts only"; delete from the change page instead.
        actions.pop("delete_selected", None)
        return actions

    # ---------------------------------------------------------------- lifecycle actions (list page)

    def _run_lifecycle(self, request: HttpRequest, queryset: QuerySet[Campaign], action: str) -> None:
        service = services.LIFECYCLE_ACTIONS[action]
        actor = actor_for(request.user)
        done = 0
        for campaign in queryset.order_by("pk"):
            try:
                service(campaign_id=campaign.pk, actor=actor)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{campaign.name}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(
                request, f"{LIFECYCLE_LABELS[action]}: {done} campaign(s) done.", messages.SUCCESS
            )

    @admin.action(description="Activate selected campaigns", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_lifecycle(request, queryset, "activate")

    @admin.action(description="Pause selected campaigns", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_lifecycle(request, queryset, "pause")

    @admin.action(description="Resume selected campaigns", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_lifecycle(request, queryset, "resume")

    @admin.action(description="Complete selected campaigns", permissions=["change"])
    def complete(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_lifecycle(request, queryset, "complete")

    @admin.action(description="Cancel selected campaigns", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_lifecycle(request, queryset, "cancel")

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

    # ---------------------------------------------------------------- change page: buttons and CSV import

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/lifecycle/<str:action>/",
                self.admin_site.admin_view(self.lifecycle_view),
                name=f"{prefix}_lifecycle",
            ),
            path(
                "<path:object_id>/import-item-rules/",
                self.admin_site.admin_view(self.import_item_rules_view),
                name=f"{prefix}_import_rules",
            ),
            *super().get_urls(),
        ]

    def _change_url(self, campaign_id: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[campaign_id])

    def lifecycle_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=object_id)
        if request.method != "POST" or not self.has_change_permission(request, campaign):
            raise PermissionDenied
        if action not in services.LIFECYCLE_ACTIONS:
            raise PermissionDenied
        try:
            campaign = services.LIFECYCLE_ACTIONS[action](
                campaign_id=campaign.pk, actor=actor_for(request.user)
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, f"{campaign.name} is now {campaign.get_status_display().lower()}.", messages.SUCCESS
            )
        return HttpResponseRedirect(self._change_url(campaign.pk))

    def import_item_rules_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=object_id)
        if request.method != "POST" or not self.has_change_permission(request, campaign):
            raise PermissionDenied
        upload = request.FILES.get("file")
        if upload is None:
            self.message_user(request, "Choose a CSV file to import.", messages.ERROR)
            return HttpResponseRedirect(self._change_url(campaign.pk))
        try:
            result = services.item_rules_import_csv(
                campaign_id=campaign.pk, actor=actor_for(request.user), content=upload.read()
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            rows = exc.fields.get("rows", {})
            for line, errors in list(rows.items())[:MAX_IMPORT_ERRORS_SHOWN]:
                detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
                self.message_user(request, f"Line {line}: {detail}", messages.ERROR)
            if len(rows) > MAX_IMPORT_ERRORS_SHOWN:
                self.message_user(
                    request, f"… and {len(rows) - MAX_IMPORT_ERRORS_SHOWN} more.", messages.ERROR
                )
            for field in ("file", "header"):
                for message in exc.fields.get(field, []):
                    self.message_user(request, f"{field}: {message}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Imported {result.imported} item rule(s); the campaign is now at version "
                f"{result.campaign.version}.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(self._change_url(campaign.pk))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = dict(extra_context or {})
        campaign = Campaign.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if campaign is not None and self.has_change_permission(request, campaign):
            extra_context["lifecycle_actions"] = [
                {"name": action, "label": LIFECYCLE_LABELS[action]}
                for action in services.LIFECYCLE_ACTIONS
                if campaign.status in services.TRANSITIONS[action][0]
            ]
            extra_context["can_import_item_rules"] = campaign.status in services.EDITABLE_STATUSES
        return super().change_view(request, object_id, form_url, extra_context)
