"""A CRM person builds a segment in a real browser: picks a starter template, sees the live size
estimate and the validation message of a mistake, and saves it (headless Chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.campaigns.conftest import committed
from tests.support.browser import admin_login, requires_chromium, save_screenshot

SCHEMA = "brand_a"
USERNAME = "browser-segment-editor"
PASSWORD = "browser-segment-password-1"
SEGMENT_NAME = "Browser segment Iberia"
PREFIX = "browser-seg-"

pytestmark = requires_chromium


def _cleanup() -> None:
    from django.contrib.auth import get_user_model

    from customers.models import Customer, Segment

    Segment.objects.filter(name__startswith=SEGMENT_NAME).delete()
    Customer.objects.filter(customer_id__startswith=PREFIX).delete()
    get_user_model().objects.filter(username=USERNAME).delete()


def _arrange() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from customers.services import customers_upsert

    _cleanup()
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="CRM editor"))
    countries = ["ES"] * 6 + ["PT"] * 3 + ["FR"] * 5
    customers_upsert(
        bodies=[{"customer_id": f"{PREFIX}{i:02d}", "country": c} for i, c in enumerate(countries)],
        actor="system",
    )


@pytest.fixture
def committed_editor(brands, db) -> Iterator[None]:
    committed(SCHEMA, _arrange)
    try:
        yield
    finally:
        committed(SCHEMA, _cleanup)


def test_crm_person_builds_a_segment_with_a_live_estimate(live_app, chromium_page, committed_editor):
    from playwright.sync_api import expect

    page = chromium_page
    admin_login(
        page, live_app, username=USERNAME, password=PASSWORD, next_path="/admin/customers/segment/add/"
    )
    page.fill("#id_name", SEGMENT_NAME)
    page.select_option("#segment-starter", label="Customers in a country")
    estimate = page.locator("#segment-estimate")
    expect(estimate).to_contain_text("9 customers (all")
    save_screenshot(page, "segment-editor-estimate")

    page.fill("textarea.segment-definition", '{"attr": "country", "op": "gt", "value": 3}')
    expect(estimate).to_contain_text("the value for country must be text")
    save_screenshot(page, "segment-editor-mistake")

    page.select_option("#segment-starter", label="Customers in a country")
    expect(estimate).to_contain_text("customers (all")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text(SEGMENT_NAME)

    def stored():
        from customers.models import Segment

        segment = Segment.objects.get(name=SEGMENT_NAME)
        return segment.definition, segment.estimated_size

    definition, estimated = committed(SCHEMA, stored)
    assert definition == {"attr": "country", "op": "in", "value": ["ES", "PT"]}
    assert estimated is not None and estimated >= 9
