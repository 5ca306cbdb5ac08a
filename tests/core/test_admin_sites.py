"""The admin boundary: a brand's admin reaches only tables of the brand's schema (ADR 0001).

A brand host's `search_path` falls back to `public`, so any shared model served
by the brand's admin would be read and written for every brand at once.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_tenants.utils import schema_context

from core.admin_sites import (
    brand_site,
    platform_site,
    shared_app_labels,
    split_default_site,
    tenant_app_labels,
)
from monitoring.alarms.models import AlarmRule
from tenants.models import Brand

BRAND_HOST = "brand-a.localhost"
PUBLIC_HOST = "localhost"


def admin_model_urls(urlconf: str) -> list[tuple[str, type]]:
    """(route, model) for every URL of the admin mounted in `urlconf` that belongs to a model admin."""
    found: list[tuple[str, type]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                model_admin = getattr(pattern.callback, "model_admin", None)
                if model_admin is not None:
                    found.append((route, model_admin.model))

    walk(get_resolver(urlconf).url_patterns, "")
    return found


def test_brand_site_registers_only_models_whose_tables_are_in_the_brand_schema():
    tenant_labels, shared_only = tenant_app_labels(), shared_app_labels() - tenant_app_labels()
    assert brand_site._registry, "the brand site serves the brand's models"
    for model in brand_site._registry:
        assert model._meta.app_label in tenant_labels, model._meta.label
        assert model._meta.app_label not in shared_only, model._meta.label
    urls = admin_model_urls("config.urls_tenant")
    assert urls, "the resolver walk found the brand admin's model URLs"
    for route, model in urls:
        assert route.startswith("admin/"), route
        assert model._meta.app_label in tenant_labels, (route, model._meta.label)


def test_platform_site_registers_only_models_whose_tables_are_in_public():
    shared_labels = shared_app_labels()
    assert PeriodicTask in platform_site._registry and AlarmRule in platform_site._registry
    assert Brand in platform_site._registry
    for model in platform_site._registry:
        assert model._meta.app_label in shared_labels, model._meta.label
    for route, model in admin_model_urls("config.urls_public"):
        assert model._meta.app_label in shared_labels, (route, model._meta.label)


def test_registering_a_shared_model_on_the_brand_site_fails_loudly():
    with pytest.raises(ImproperlyConfigured, match=r"django_celery_beat\.PeriodicTask cannot be registered"):
        brand_site.register(PeriodicTask)
    assert not brand_site.is_registered(PeriodicTask)


def test_split_refuses_a_registration_of_an_app_in_neither_list():
    class Unlisted:  # stands in for a model of an app in neither SHARED_APPS nor TENANT_APPS
        class _meta:
            app_label = "unlisted"
            label = "unlisted.Thing"

    source = admin.AdminSite(name="probe")
    source._registry[Unlisted] = object()
    with pytest.raises(ImproperlyConfigured, match=r"unlisted\.Thing"):
        split_default_site(source=source, sites=(brand_site, platform_site))


def shared_only_models() -> list[type]:
    shared_only = shared_app_labels() - tenant_app_labels()
    return [model for model in admin.site._registry if model._meta.app_label in shared_only]


def shared_model_urls(model: type) -> list[str]:
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    return [base, f"{base}add/", f"{base}1/change/", f"{base}1/delete/", f"{base}1/history/", f"{base}1/"]


@pytest.fixture
def brand_superuser_client(brand_a, django_user_model) -> Client:
    user = django_user_model.objects.create_user("crm-lead", password="pw", is_staff=True, is_superuser=True)
    client = Client(HTTP_HOST=BRAND_HOST)
    client.force_login(user)
    return client


@pytest.fixture
def maintenance_task(db) -> PeriodicTask:
    with schema_context("public"):
        every, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.SECONDS)
        task, _ = PeriodicTask.objects.update_or_create(
            name="maintenance tick (admin boundary test)",
            defaults={"task": "tenants.maintenance_tick", "interval": every, "enabled": True},
        )
    return task


def test_brand_superuser_gets_404_for_every_shared_model_and_changes_nothing(
    brand_superuser_client, maintenance_task
):
    client = brand_superuser_client
    assert client.get("/admin/").status_code == 200
    index = client.get("/admin/").content.decode()
    assert "Periodic tasks" not in index and "Alarm rules" not in index and "Brands" not in index

    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 404
    models = shared_only_models()
    assert {PeriodicTask, AlarmRule, Brand} <= set(models)
    for model in models:
        assert client.get(f"/admin/{model._meta.app_label}/").status_code == 404
        for url in shared_model_urls(model):
            assert client.get(url).status_code == 404, url
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        action = {"action": "delete_selected", "_selected_action": [maintenance_task.pk], "post": "yes"}
        assert client.post(changelist, action).status_code == 404
        assert client.post(f"{changelist}add/", {"name": "x"}).status_code == 404
        assert client.post(f"{changelist}{maintenance_task.pk}/change/", {"enabled": ""}).status_code == 404

    # Autocomplete and "view on site" resolve models by label / content type: not the shared ones.
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "django_celery_beat", "model_name": "periodictask", "field_name": "interval"},
    )
    assert response.status_code == 403
    content_type = ContentType.objects.get_for_model(PeriodicTask)
    assert client.get(f"/admin/r/{content_type.pk}/{maintenance_task.pk}/").status_code == 404

    with schema_context("public"):
        task = PeriodicTask.objects.get(pk=maintenance_task.pk)
        assert task.enabled and task.name == maintenance_task.name


def test_brand_group_form_offers_only_the_brand_models_permissions(brand_superuser_client):
    html = brand_superuser_client.get("/admin/auth/group/add/").content.decode()
    beat = Permission.objects.get(codename="change_periodictask")
    campaign = Permission.objects.get(codename="change_campaign")
    assert f'value="{campaign.pk}"' in html
    assert f'value="{beat.pk}"' not in html


def test_platform_operator_still_manages_the_periodic_tasks(django_user_model, maintenance_task):
    client = Client(HTTP_HOST=PUBLIC_HOST)
    with schema_context("public"):
        operator = django_user_model.objects.create_user(
            "operator", password="pw", is_staff=True, is_superuser=True
        )
        client.force_login(operator)
        index = client.get("/admin/").content.decode()
        assert "Periodic tasks" in index
        listing = client.get("/admin/django_celery_beat/periodictask/")
        assert listing.status_code == 200 and maintenance_task.name in listing.content.decode()
        response = client.post(
            "/admin/django_celery_beat/periodictask/",
            {"action": "disable_tasks", "_selected_action": [maintenance_task.pk]},
        )
        assert response.status_code == 302
        assert not PeriodicTask.objects.get(pk=maintenance_task.pk).enabled
        # The brand's models are not the platform's: their admin URLs do not exist here.
        assert client.get("/admin/campaigns/campaign/").status_code == 404
