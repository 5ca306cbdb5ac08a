from django.db import connection
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name


def on_public_schema() -> bool:
    return connection.schema_name == get_public_schema_name()


class TenantOnlyAdminMixin:
    """Hide a tenant model from the platform (public) admin, where its table does not exist."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return not on_public_schema() and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not on_public_schema() and super().has_view_permission(request, obj)


class PublicOnlyAdminMixin:
    """Show a shared model only in the platform (public) admin, never to a brand's staff."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return on_public_schema() and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return on_public_schema() and super().has_view_permission(request, obj)
