"""Two admin sites: the brand's (tenant hosts) and the platform's (the public host).

A brand's host runs with `search_path = <brand>, public`, so a model whose table
lives only in the public schema (django-celery-beat, alarm rules, brands) would
be read *and written* through the brand's admin, for every brand at once. Which
site a model belongs to is decided here and nowhere else, from the settings
that decide where its table lives (ADR 0001):

* the brand site holds models of apps in `TENANT_APPS` (their tables are in the
  brand's schema);
* the platform site holds models of apps in `SHARED_APPS` (their tables are in
  `public`).

Apps register on Django's default `admin.site` as usual (third-party apps do so
themselves); `split_default_site()` copies each registration to the site(s) its
table allows once autodiscovery is done, and refuses to start when a model's
app is in neither list. Registering a model on the wrong site directly raises.
The default `admin.site` itself is served on no URL.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes import views as contenttype_views
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.base import ModelBase
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import NoReverseMatch, path, reverse
from django_tenants.utils import app_labels


def tenant_app_labels() -> set[str]:
    return set(app_labels(settings.TENANT_APPS))


def shared_app_labels() -> set[str]:
    return set(app_labels(settings.SHARED_APPS))


class SchemaBoundAdminSite(admin.AdminSite):
    """An admin site that accepts only models whose table lives in its schema(s)."""

    schema_kind: str  # "brand" or "platform", for messages

    def app_labels(self) -> set[str]:
        raise NotImplementedError

    def accepts(self, model: type[Model]) -> bool:
        return model._meta.app_label in self.app_labels()

    def register(self, model_or_iterable, admin_class=None, **options):
        models: Iterable = (
            [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        )
        for model in models:
            if not self.accepts(model):
                raise ImproperlyConfigured(
                    f"{model._meta.label} cannot be registered on the {self.schema_kind} admin site: "
                    f"its table does not live in the {self.schema_kind} schema (ADR 0001)"
                )
        return super().register(model_or_iterable, admin_class, **options)

    def get_urls(self):
        # "View on site" resolves any content type's object; here only this site's models.
        urls = super().get_urls()
        for index, pattern in enumerate(urls):
            if getattr(pattern, "name", None) == "view_on_site":
                urls[index] = path(
                    "r/<int:content_type_id>/<path:object_id>/",
                    self.admin_view(self.view_on_site),
                    name="view_on_site",
                )
        return urls

    def view_on_site(self, request: HttpRequest, content_type_id: int, object_id: str) -> HttpResponse:
        content_type = ContentType.objects.filter(pk=content_type_id).first()
        model = content_type.model_class() if content_type else None
        if model is None or not self.is_registered(model):
            raise Http404("No such object on this site.")
        return contenttype_views.shortcut(request, content_type_id, object_id)

    # "View site" opens this URL name when it exists (the front page of what the site is about);
    # the site has no public pages, so without one the link is hidden rather than a 404.
    home_url_name: str | None = None

    def home_url(self) -> str | None:
        if self.home_url_name is None:
            return None
        try:
            return reverse(self.home_url_name)
        except NoReverseMatch:
            return None

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["site_url"] = self.home_url()
        return context

    def permissions_of_this_site(self) -> QuerySet[Permission]:
        """Permissions a user of this site can be granted: those of the models whose tables it has."""
        return Permission.objects.filter(content_type__app_label__in=self.app_labels()).select_related(
            "content_type"
        )


class BrandAdminSite(SchemaBoundAdminSite):
    """Headed with the name of the brand being served (`connection.tenant`); "View site" is its dashboards."""

    schema_kind = "brand"
    site_header = "Campaign back office"
    site_title = "Campaign back office"
    index_title = "Brand administration"
    home_url_name = "admin:monitoring_campaignhourlyrollup_changelist"

    def app_labels(self) -> set[str]:
        return tenant_app_labels()

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        brand_name = getattr(getattr(connection, "tenant", None), "name", "")
        if brand_name:
            context["site_header"] = brand_name
            context["site_title"] = f"{brand_name} · campaign back office"
        return context


class PlatformAdminSite(SchemaBoundAdminSite):
    schema_kind = "platform"
    site_header = "Platform"
    site_title = "Platform · campaign back office"
    index_title = "Platform administration"
    home_url_name = "admin:alarms_platformdashboard_changelist"

    def app_labels(self) -> set[str]:
        return shared_app_labels()


# Both are named "admin" so that `reverse("admin:…")` works on whichever host serves the request.
brand_site = BrandAdminSite(name="admin")
platform_site = PlatformAdminSite(name="admin")


def split_default_site(
    source: admin.AdminSite | None = None,
    sites: tuple[SchemaBoundAdminSite, ...] = (brand_site, platform_site),
) -> None:
    """Copy every registration of the default site to the site(s) where the model's table lives."""
    source = source or admin.site
    for model, model_admin in source._registry.items():
        placed = False
        for site in sites:
            if site.accepts(model):
                if not site.is_registered(model):
                    site.register(model, type(model_admin))
                placed = True
        if not placed:
            raise ImproperlyConfigured(
                f"{model._meta.label} is registered in the admin but its app is in neither "
                "SHARED_APPS nor TENANT_APPS"
            )
