import zoneinfo

from django import forms
from django.contrib import admin

from tenants.models import Brand, Domain


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
