"""Customers and segments in the brand's admin: profiles with stats, events and segments; the segment
editor (starter templates, validation messages, a live size estimate), compute, members and CSV."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from core.admin import AuditHistoryAdminMixin
from core.exceptions import ApplicationError
from customers.definitions import parse_definition
from customers.models import Customer, CustomerStats, Event, Segment, SegmentMember
from customers.selectors import customer_segment_names, segment_members
from customers.services import (
    customer_erase,
    parse_members_csv,
    segment_compute_request,
    segment_create,
    segment_members_import_csv,
    segment_update,
)
from customers.templates import STARTER_DEFINITIONS


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class StatsInline(admin.StackedInline):
    model = CustomerStats
    fields = [
        ("orders_total", "spend_total"),
        ("orders_90d", "spend_90d"),
        ("first_purchase_at", "last_purchase_at"),
        ("r", "f", "m", "rfm_computed_at"),
    ]
    readonly_fields = [
        "orders_total",
        "spend_total",
        "orders_90d",
        "spend_90d",
        "first_purchase_at",
        "last_purchase_at",
        "r",
        "f",
        "m",
        "rfm_computed_at",
    ]
    can_delete = False
    verbose_name_plural = "purchase statistics (R, F, M: 1–5, 5 = most recent, most frequent, highest spend)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class EventInline(ReadOnlyInline):
    model = Event
    fields = ["occurred_at", "name", "properties", "event_id"]
    readonly_fields = fields
    ordering = ["-occurred_at"]
    max_num = 0
    verbose_name_plural = "events (latest first)"

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-occurred_at")


class MembershipInline(ReadOnlyInline):
    model = SegmentMember
    fields = ["segment", "added_at"]
    readonly_fields = fields
    verbose_name_plural = "static segments"


@admin.register(Customer)
class CustomerAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    list_display = [
        "customer_id",
        "country",
        "locale",
        "orders",
        "spend",
        "rfm",
        "last_seen_at",
        "created_at",
    ]
    list_filter = ["country", "stats__r", "stats__f", "stats__m"]
    search_fields = ["customer_id__exact", "email__iexact"]
    list_select_related = ["stats"]
    show_full_result_count = False
    fields = [
        "customer_id",
        ("email", "phone"),
        ("locale", "timezone", "country"),
        ("lat", "lon"),
        "attributes_table",
        "segments_now",
        ("created_at", "last_seen_at", "erased_at"),
    ]
    inlines = [StatsInline, MembershipInline, EventInline]
    actions = ["erase"]

    def has_add_permission(self, request) -> bool:
        return False  # customers arrive from the mobile backend (purchases, events, upserts)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # erase (privacy) instead: the purchases stay, pseudonymised

    def get_readonly_fields(self, request, obj=None):
        return [
            "customer_id",
            "email",
            "phone",
            "locale",
            "timezone",
            "country",
            "lat",
            "lon",
            "attributes_table",
            "segments_now",
            "created_at",
            "last_seen_at",
            "erased_at",
        ]

    @admin.display(description="orders", ordering="stats__orders_total")
    def orders(self, customer: Customer) -> int:
        return customer.stats.orders_total

    @admin.display(description="spend", ordering="stats__spend_total")
    def spend(self, customer: Customer) -> str:
        return format(customer.stats.spend_total.normalize(), "f")

    @admin.display(description="R · F · M")
    def rfm(self, customer: Customer) -> str:
        stats = customer.stats
        return "–" if stats.r is None else f"{stats.r} · {stats.f} · {stats.m}"

    @admin.display(description="attributes")
    def attributes_table(self, customer: Customer) -> str:
        if not customer.attributes:
            return "—"
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            (
                (key, json.dumps(value, ensure_ascii=False))
                for key, value in sorted(customer.attributes.items())
            ),
        )
        return format_html('<table class="customer-attributes">{}</table>', rows)

    @admin.display(description="segments now")
    def segments_now(self, customer: Customer) -> str:
        names = customer_segment_names(customer=customer)
        return ", ".join(names) if names else "None."

    @admin.action(
        description="Erase selected customers (privacy: personal data and events go, purchases stay "
        "under a pseudonym)",
        permissions=["erase"],
    )
    def erase(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        erased = 0
        for customer_id in queryset.filter(erased_at__isnull=True).values_list("customer_id", flat=True):
            customer_erase(customer_id=customer_id, actor=_actor(request))
            erased += 1
        self.message_user(request, f"{erased} customer(s) erased.", messages.SUCCESS)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("customers.delete_customer")


class SegmentForm(forms.ModelForm):
    definition = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 14,
                "cols": 90,
                "class": "segment-definition",
                "spellcheck": "false",
                "style": "font-family: monospace",
            }
        ),
        help_text="Start from a template above, then adjust the values. The estimate updates as you type.",
    )
    members_csv = forms.FileField(
        required=False,
        label="Members (CSV)",
        help_text="Static segments: one customer_id per row (header customer_id optional). Replaces the members.",
    )

    class Meta:
        model = Segment
        fields = ["name", "kind", "definition"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["kind"].disabled = True
            self.initial["definition"] = json.dumps(self.instance.definition, indent=2, ensure_ascii=False)

    def clean_members_csv(self) -> bytes | None:
        upload = self.cleaned_data.get("members_csv")
        if upload is None:
            return None
        content = upload.read()
        _, errors = parse_members_csv(content)
        if errors:
            raise forms.ValidationError(errors)
        return content

    def clean_definition(self) -> Any:
        kind = self.cleaned_data.get("kind") or self.instance.kind
        text = (self.cleaned_data.get("definition") or "").strip()
        if kind == Segment.Kind.STATIC:
            if text not in ("", "{}"):
                raise forms.ValidationError("A static segment has no definition: upload its members (CSV).")
            return {}
        try:
            definition = json.loads(text or "null")
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}."
            ) from None
        try:
            parse_definition(definition)
        except DjangoValidationError as error:
            raise forms.ValidationError(error.message_dict["definition"]) from None
        return definition


@admin.register(Segment)
class SegmentAdmin(AuditHistoryAdminMixin, admin.ModelAdmin):
    form = SegmentForm
    change_form_template = "admin/customers/segment/change_form.html"
    list_display = ["name", "kind", "estimated_size", "size", "computed_at", "version", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    readonly_fields = ["estimated_size", "size", "computed_at", "version", "size_history", "members_sample"]
    actions = ["compute"]

    def get_fields(self, request, obj=None):
        fields = ["name", "kind", "definition"]
        if obj is None or obj.kind == Segment.Kind.STATIC:
            fields.append("members_csv")
        if obj is not None:
            fields += ["estimated_size", "size", "computed_at", "version", "size_history", "members_sample"]
        return fields

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "starter_definitions": STARTER_DEFINITIONS}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj: Segment, form, change) -> None:
        data = form.cleaned_data
        if change:
            saved = segment_update(
                segment_id=obj.pk,
                data={"name": data["name"], "definition": data["definition"]},
                actor=_actor(request),
            )
        else:
            saved = segment_create(
                name=data["name"], kind=data["kind"], definition=data["definition"], actor=_actor(request)
            )
        obj.pk = saved.pk
        if data.get("members_csv") is not None and saved.kind == Segment.Kind.STATIC:
            result = segment_members_import_csv(
                segment_id=saved.pk, content=data["members_csv"], actor=_actor(request)
            )
            self.message_user(request, f"{result.members} member(s) imported.", messages.SUCCESS)

    def delete_model(self, request, obj: Segment) -> None:
        from customers.services import segment_delete

        segment_delete(segment_id=obj.pk, actor=_actor(request))

    @admin.action(description="Count the selected segments exactly (runs as a job)", permissions=["change"])
    def compute(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment_id in queryset.values_list("pk", flat=True):
            segment_compute_request(segment_id=segment_id, actor=_actor(request))
        self.message_user(
            request, f"Counting {queryset.count()} segment(s); refresh in a moment.", messages.SUCCESS
        )

    @admin.display(description="size history")
    def size_history(self, segment: Segment) -> str:
        rows = list(segment.size_history.all()[:10])
        if not rows:
            return "Not counted yet: use the action “Count the selected segments exactly”."
        return format_html_join(
            "",
            "<div>{} — {} customers ({} ms)</div>",
            ((row.computed_at.strftime("%Y-%m-%d %H:%M"), row.size, row.duration_ms) for row in rows),
        )

    @admin.display(description="members (first 20)")
    def members_sample(self, segment: Segment) -> str:
        try:
            ids = list(segment_members(segment=segment).values_list("customer_id", flat=True)[:20])
        except ApplicationError:
            return "—"
        if not ids:
            return "No members."
        return format_html_join(", ", '<a href="../../../customer/?q={}">{}</a>', ((cid, cid) for cid in ids))
