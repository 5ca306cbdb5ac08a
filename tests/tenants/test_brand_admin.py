"""Platform admin of brands: no way to delete a brand (ADR 0012); the admin chrome names its site."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django_tenants.utils import schema_context

from tenants.models import Brand


@pytest.fixture
def operator_client(django_user_model, brands) -> Client:
    client = Client(HTTP_HOST="localhost")
    with schema_context("public"):
        operator = django_user_model.objects.create_user(
            "brand-admin-operator", password="pw", is_staff=True, is_superuser=True
        )
    client.force_login(operator)
    return client


def test_the_platform_brand_changelist_has_no_delete_action(operator_client, brands):
    with schema_context("public"):
        listing = operator_client.get("/admin/tenants/brand/")
        assert listing.status_code == 200
        html = listing.content.decode()
        assert "Brand A" in html
        assert "delete_selected" not in html and "Delete selected" not in html

        brand = brands["brand_a"]
        # The bulk action posted by hand is refused, and the brand (and its schema) stays.
        response = operator_client.post(
            "/admin/tenants/brand/",
            {"action": "delete_selected", "_selected_action": [brand.pk], "post": "yes"},
        )
        assert response.status_code in (200, 302)
        assert operator_client.get(f"/admin/tenants/brand/{brand.pk}/delete/").status_code == 403
        assert (
            operator_client.post(f"/admin/tenants/brand/{brand.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )
        change = operator_client.get(f"/admin/tenants/brand/{brand.pk}/change/").content.decode()
        assert "deletelink" not in change
        assert Brand.objects.filter(pk=brand.pk).exists()


def test_the_platform_site_says_platform_and_view_site_opens_its_dashboard(operator_client):
    with schema_context("public"):
        html = operator_client.get("/admin/").content.decode()
    assert '<a href="/admin/">Platform</a>' in html
    assert '<a href="/admin/alarms/platformdashboard/">View site</a>' in html


def test_the_brand_site_shows_the_brand_name_and_view_site_opens_its_dashboards(django_user_model, brand_a):
    user = django_user_model.objects.create_user("branding-viewer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM viewer"))
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    html = client.get("/admin/").content.decode()
    assert '<a href="/admin/">Brand A</a>' in html
    assert "<title>Brand administration | Brand A · campaign back office</title>" in html
    assert '<a href="/admin/monitoring/campaignhourlyrollup/">View site</a>' in html
    assert client.get("/admin/monitoring/campaignhourlyrollup/").status_code == 200
    # The login page already says whose back office it is.
    assert "Brand A" in Client(HTTP_HOST="brand-a.localhost").get("/admin/login/").content.decode()
