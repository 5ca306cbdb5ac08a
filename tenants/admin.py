"""Platform admin of brands: list, read, rename, add hosts. Never delete (ADR 0012).

Deleting a Brand row would orphan its schema (auto_drop_schema is off) and cascade its hosts, alarm
rules and alarms away — or, with dropping on, destroy a brand's data in one click. Neither is a form
action: there is no delete button and no "Delete selected brands" bulk action.
"""

import zoneinfo

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from tenants.models import Brand, Domain
from tenants.signals import brand_created


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class BrandAdminForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        choices=[(name, name) for name in sorted(zoneinfo.available_timezones())],
        initial="UTC",
        help_text="The brand's admin shows and reads campaign dates in this zone; they are stored in UTC.",
    )

    class Meta:
        model = Brand
        fields = ["schema_name", "name", "timezone"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    form = BrandAdminForm
    list_display = ["name", "schema_name", "timezone", "created_at"]
    search_fields = ["name", "schema_name"]
    inlines = [DomainInline]

    def get_readonly_fields(self, request, obj=None):
        # Renaming a schema under a running brand is an operator job, not a form edit.
        return ["schema_name", "created_at"] if obj else ["created_at"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:
            # A brand added here is set up like one made by `create_brand` (default alarm rules, …).
            brand_created.send(sender=Brand, brand=form.instance, created=True)
