from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from accounts.models import ApiKey
from core.admin import AuditedAdminMixin, SitePermissionsAdminMixin

# The library's own concrete model is unused (ours carries the role); keep it out of the admin.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

# Staff accounts: a brand's users and groups on the brand site, operators on the platform site,
# each offered only the permissions of the models its site serves.
for model, model_admin in ((User, UserAdmin), (Group, GroupAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(
        model, type(model_admin.__name__, (AuditedAdminMixin, SitePermissionsAdminMixin, model_admin), {})
    )


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, APIKeyModelAdmin):
    audit_object_name = "api_key"  # the word the api_key_create service uses
    list_display = [*APIKeyModelAdmin.list_display, "role"]
    list_filter = [*APIKeyModelAdmin.list_filter, "role"]
