from django.contrib import admin

from tenants.models import Brand, Domain


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "schema_name", "created_at"]
    search_fields = ["name", "schema_name"]
    inlines = [DomainInline]

    def get_readonly_fields(self, request, obj=None):
        # Renaming a schema under a running brand is an operator job, not a form edit.
        return ["schema_name", "created_at"] if obj else ["created_at"]
