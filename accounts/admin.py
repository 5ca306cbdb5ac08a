from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from accounts.models import ApiKey
from core.admin import TenantOnlyAdminMixin

# The library's own concrete model is unused (ours carries the role); keep it out of the admin.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(TenantOnlyAdminMixin, APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "role"]
    list_filter = [*APIKeyModelAdmin.list_filter, "role"]
