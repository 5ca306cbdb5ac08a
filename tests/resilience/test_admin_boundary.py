"""A brand's superuser against the platform's tables, through the brand's admin (ADR 0001).

A brand host runs with `search_path = <brand>, public`: whatever of the public
schema its admin serves, a brand can read and change for every brand. The probe
tries, on the brand host and as the brand's superuser, every shared model's
list, add, change, delete, history and action URL (GET and POST), every route of
the public host's URLconf, autocomplete and "view on site" for the shared
models; then it compares a digest of every shared table with the one taken
before. Goal: 0 reachable, 0 changed.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_tenants.utils import schema_context

from core.admin_sites import platform_site, shared_app_labels, tenant_app_labels
from monitoring.alarms.models import AlarmRule

BRAND_HOST = "brand-a.localhost"
# Admin routes that the brand site has too, for the brand's own tables: its index, login, its own
# users' password form (auth lives in both schemas).
SHARED_ADMIN_ROUTES = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
    "auth_user_password_change",
}


def shared_only_labels() -> set[str]:
    return shared_app_labels() - tenant_app_labels()


def shared_tables_digest() -> dict[str, str]:
    """md5 of every row of every table of the shared-only apps, in the public schema."""
    digests = {}
    with schema_context("public"), connection.cursor() as cursor:
        for label in sorted(shared_only_labels()):
            for model in apps.get_app_config(label).get_models():
                if model._meta.proxy or not model._meta.managed:
                    continue
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM public.{table} t"
                )
                digests[model._meta.db_table] = "{}:{}".format(*cursor.fetchone())
    return digests


def public_routes() -> list[tuple[str, str | None, type | None]]:
    """(route, url name, model) of every route of the public host's URLconf."""
    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                model_admin = getattr(pattern.callback, "model_admin", None)
                found.append((route, pattern.name, model_admin.model if model_admin else None))

    walk(get_resolver("config.urls_public").url_patterns, "")
    return found


def concrete(route: str, object_id: int) -> str:
    """A path for a route: converters and groups filled with an existing object's id."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", str(object_id), route)
    path = path.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<app_label>([^)]*)\)", lambda m: m.group(1).split("|")[0], path)
    return "/" + path


@pytest.fixture
def platform_rows(db):
    with schema_context("public"):
        every, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.SECONDS)
        task, _ = PeriodicTask.objects.update_or_create(
            name="maintenance tick (boundary probe)",
            defaults={"task": "tenants.maintenance_tick", "interval": every, "enabled": True},
        )
        rule = AlarmRule.objects.create(name="probe", kind=AlarmRule.Kind.DEAD_LETTERS, threshold=0)
    return {"task": task, "rule": rule}


def test_brand_superuser_reaches_no_platform_table(
    brands, brand_a, django_user_model, platform_rows, reliability
):
    user = django_user_model.objects.create_user(
        "crm-lead-probe", password="pw", is_staff=True, is_superuser=True
    )
    client = Client(HTTP_HOST=BRAND_HOST, raise_request_exception=False)
    client.force_login(user)
    assert client.get("/admin/").status_code == 200  # the session is a live brand superuser

    before = shared_tables_digest()
    object_id = platform_rows["task"].pk
    tried: list[tuple[str, str, int]] = []

    def probe(method: str, path: str, data: dict | None = None) -> None:
        # A 500 aborts the test's transaction: undo just that request so the probe goes on.
        savepoint = transaction.savepoint()
        response = client.post(path, data or {}) if method == "POST" else client.get(path)
        if response.status_code >= 500:
            transaction.savepoint_rollback(savepoint)
        else:
            transaction.savepoint_commit(savepoint)
        tried.append((method, path, response.status_code))

    shared_models = [
        model for model in platform_site._registry if model._meta.app_label in shared_only_labels()
    ]
    assert {PeriodicTask, AlarmRule} <= set(shared_models)
    for model in shared_models:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        probe("GET", f"/admin/{model._meta.app_label}/")
        for suffix in ("", "add/", f"{object_id}/change/", f"{object_id}/delete/", f"{object_id}/history/"):
            probe("GET", base + suffix)
        for action in action_names(platform_site._registry[model]):
            probe("POST", base, {"action": action, "_selected_action": [object_id], "post": "yes"})
        probe("POST", base + "add/", {"name": "injected", "task": "tenants.maintenance_tick"})
        probe("POST", base + f"{object_id}/change/", {"enabled": "", "name": "hijacked"})
        probe("POST", base + f"{object_id}/delete/", {"post": "yes"})
        content_type = ContentType.objects.get_for_model(model)
        probe("GET", f"/admin/r/{content_type.pk}/{object_id}/")
        probe(
            "GET",
            f"/admin/autocomplete/?app_label={model._meta.app_label}&model_name={model._meta.model_name}&field_name=id",
        )

    routes = public_routes()
    for route, name, model in routes:
        if model is None and name in SHARED_ADMIN_ROUTES:
            continue  # the brand's own admin index, login… (its own tables)
        if model is not None and model._meta.app_label not in shared_only_labels():
            continue  # auth: the brand's own users and groups, in the brand's schema
        probe("GET", concrete(route, object_id))

    after = shared_tables_digest()
    reachable = [(method, path, status) for method, path, status in tried if status < 400]
    changed = [table for table in before if before[table] != after[table]]
    reliability.record(
        "admin boundary: brand superuser vs every shared model and public-host URL",
        cases=len(tried),
        leaks=len(reachable) + len(changed),
        five_xx=sum(status >= 500 for _, _, status in tried),
    )
    assert len(tried) > 100
    assert reachable == []
    assert changed == []
    assert all(status < 500 for _, _, status in tried)


def action_names(model_admin) -> set[str]:
    """Every action the platform's admin offers for the model (the site's and the model admin's)."""
    return {name for _func, name, _description in model_admin._get_base_actions()} | {"delete_selected"}
