"""Admin pieces every app may use (the sites themselves are in `core/admin_sites.py`)."""

from __future__ import annotations

from django.contrib.auth.models import Permission

PERMISSION_FIELDS = {"permissions", "user_permissions"}


class SitePermissionsAdminMixin:
    """Offer only the permissions of the models the serving admin site has.

    Content types (and so permissions) exist in every schema for every installed
    app, so without this a brand's group form would offer "Can change periodic
    task": a permission that means nothing on the brand's host.
    """

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name in PERMISSION_FIELDS and db_field.related_model is Permission:
            site_permissions = getattr(self.admin_site, "permissions_of_this_site", None)
            if site_permissions is not None:
                kwargs["queryset"] = site_permissions()
        return super().formfield_for_manytomany(db_field, request, **kwargs)
