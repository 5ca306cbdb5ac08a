"""Admin pieces every app may use (the sites themselves are in `core/admin_sites.py`)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from core.actors import actor_for
from core.audit import audit_events_of, audit_id_field, audit_record, json_value
from core.models import AuditEvent

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


# ---------------------------------------------------------------------------- audit events (SPEC §18)


def _value_text(value: Any) -> str:
    """A JSON value of `changes` as a person reads it (no JSON syntax for CRM users)."""
    if value is None:
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(_value_text(item) for item in value) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_value_text(item)}" for key, item in value.items()) or "(empty)"
    if value == "":
        return "(empty)"
    return str(value)


def changes_table(changes: dict[str, Any] | None) -> str:
    """`changes` as a table: field | before | after."""
    if not changes:
        return format_html('<span class="audit-no-changes">{}</span>', "(no field changes)")
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td></tr>",
        (
            (field.replace("_", " "), _value_text(change.get("before")), _value_text(change.get("after")))
            if isinstance(change, dict)
            else (field.replace("_", " "), "", _value_text(change))
            for field, change in changes.items()
        ),
    )
    return format_html(
        '<table class="audit-changes"><thead><tr><th scope="col">field</th><th scope="col">before</th>'
        '<th scope="col">after</th></tr></thead><tbody>{}</tbody></table>',
        rows,
    )


def object_admin_url(admin_site: admin.AdminSite, object_type: str, object_id: str) -> str | None:
    """The change page of the event's object on this admin site, when the site has that model."""
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return None
    if not admin_site.is_registered(model) or audit_id_field(model) != "pk":
        return None
    try:
        return reverse(
            f"{admin_site.name}:{model._meta.app_label}_{model._meta.model_name}_change", args=[object_id]
        )
    except NoReverseMatch:
        return None


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The global audit trail: read-only for everyone, superusers included (append-only rows)."""

    list_display = ["at", "actor", "action", "object_link", "changed_fields", "request_id"]
    list_filter = ["action", "object_type", "actor"]
    date_hierarchy = "at"
    search_fields = ["=object_id", "actor", "=request_id"]
    fields = ["at", "actor", "action", "object_type", "object_link", "changes_table", "request_id"]
    readonly_fields = fields
    list_per_page = 100

    @admin.display(description="object")
    def object_link(self, event: AuditEvent) -> str:
        label = f"{event.object_type} {event.object_id}"
        url = object_admin_url(self.admin_site, event.object_type, event.object_id)
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="changed")
    def changed_fields(self, event: AuditEvent) -> str:
        return ", ".join(field.replace("_", " ") for field in event.changes or {}) or "—"

    @admin.display(description="changes (before → after)")
    def changes_table(self, event: AuditEvent) -> str:
        return changes_table(event.changes)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


class AuditHistoryAdminMixin:
    """The change page's "History" shows the object's audit events (API and admin changes alike).

    Needs the object's view (or change) permission and `core.view_auditevent`.
    Django's own admin log only knows changes made through the admin; the
    services write an audit event for every change, whoever made it.
    """

    audit_history_template = "admin/core/auditevent/object_history.html"
    audit_history_per_page = 100

    def audit_events(self, obj: Any) -> QuerySet[AuditEvent]:
        return audit_events_of(obj)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj) or not request.user.has_perm(
            "core.view_auditevent"
        ):
            raise PermissionDenied
        paginator = Paginator(self.audit_events(obj), self.audit_history_per_page)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "subtitle": None,
            "events": [(event, changes_table(event.changes)) for event in page],
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number),
            "page_var": PAGE_VAR,
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "object": obj,
            "opts": self.opts,
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.audit_history_template, context)


class AuditedAdminMixin:
    """Audit events for the admin pages that write without a service (users, groups, API keys).

    Every other admin page calls a service, which writes its own event. Here the
    admin's save and delete are the write, so they write the event, in the
    admin's transaction: `<model>.created|updated|deleted` with the changed
    fields of the form, before and after (fields named like `audit_redact`,
    e.g. password1, as "[redacted]").
    """

    audit_redact: tuple[str, ...] = ("password",)
    audit_object_name: str | None = None  # the word before the verb; the model's name by default

    def _audit_action(self, verb: str) -> str:
        return f"{self.audit_object_name or self.model._meta.model_name}.{verb}"

    def _audit_value(self, field: str, value: Any) -> Any:
        if any(secret in field for secret in self.audit_redact):
            return "[redacted]"
        if isinstance(value, QuerySet | list | tuple | set):
            return sorted(str(item) for item in value)
        return json_value(value)

    def save_model(self, request, obj: Model, form, change: bool) -> None:
        fields = list(form.changed_data)
        before = (
            {field: self._audit_value(field, form.initial.get(field)) for field in fields} if change else {}
        )
        super().save_model(request, obj, form, change)
        self._audit_changes = {
            field: {
                "before": before.get(field) if change else None,
                "after": self._audit_value(field, form.cleaned_data.get(field)),
            }
            for field in fields
        }
        self._audit_change = change

    def save_related(self, request, form, formsets, change: bool) -> None:
        # Many-to-many fields (groups, permissions) are saved here: the event follows them.
        super().save_related(request, form, formsets, change)
        audit_record(
            actor=actor_for(request.user),
            action=self._audit_action("updated" if self._audit_change else "created"),
            obj_or_type=form.instance,
            changes=self._audit_changes,
        )

    def delete_model(self, request, obj: Model) -> None:
        with transaction.atomic():
            audit_record(actor=actor_for(request.user), action=self._audit_action("deleted"), obj_or_type=obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset: QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset:
                audit_record(
                    actor=actor_for(request.user), action=self._audit_action("deleted"), obj_or_type=obj
                )
            super().delete_queryset(request, queryset)


# ---------------------------------------------------------------------------- the brand's time zone


def brand_timezone_name() -> str:
    """The time zone of the brand being served (`Brand.timezone`), UTC on the public schema."""
    from django.db import connection

    return getattr(getattr(connection, "tenant", None), "timezone", None) or "UTC"


class BrandTimezoneAdminMixin:
    """Show and read datetimes in the brand's time zone (they are stored in UTC)."""

    def _in_brand_zone(self, view, *args, **kwargs):
        import zoneinfo

        from django.utils import timezone

        with timezone.override(zoneinfo.ZoneInfo(brand_timezone_name())):
            response = view(*args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()  # render inside the zone: TemplateResponse renders late
            return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._in_brand_zone(super().changeform_view, request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        return self._in_brand_zone(super().changelist_view, request, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        return self._in_brand_zone(super().history_view, request, object_id, extra_context)
