"""A CRM person in a real browser: log into brand-a's admin, create a campaign with two item rules,
activate it and see the new status (headless Chromium, Debian package, driven by Playwright).

No pytest-django `live_server` (it needs transactional_db, whose flush would empty the public schema):
a single-threaded WSGI server in a thread serves the real application against the test database,
and the rows the browser needs are committed up front and removed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.campaigns.conftest import committed
from tests.support.browser import BRAND_HOST as HOST
from tests.support.browser import launch_chromium, requires_chromium, save_screenshot

SCHEMA = "brand_a"
USERNAME = "browser-crm"
PASSWORD = "browser-test-password-1"
CAMPAIGN_NAME = "Browser test campaign"
PARTNER_SLUG = "browser-partner"

pytestmark = requires_chromium


def _cleanup() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    from campaigns.models import Campaign
    from partners.models import Partner

    Campaign.objects.filter(name__startswith=CAMPAIGN_NAME).delete()
    Partner.objects.filter(slug=PARTNER_SLUG).delete()
    get_user_model().objects.filter(username=USERNAME).delete()
    Session.objects.all().delete()


def _create_user_and_partner() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from tests.partners.factories import PartnerFactory

    _cleanup()  # leftovers of an interrupted run
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="CRM editor"))
    PartnerFactory(slug=PARTNER_SLUG, name="Browser Partner")


@pytest.fixture
def committed_crm_user(brands, db) -> Iterator[None]:
    """A CRM editor and a partner, committed in brand_a (the server thread cannot see test transactions)."""
    committed(SCHEMA, _create_user_and_partner)
    try:
        yield
    finally:
        committed(SCHEMA, _cleanup)


def test_crm_person_creates_and_activates_a_campaign(live_app, committed_crm_user):
    from playwright.sync_api import expect, sync_playwright

    now = timezone.now()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, host=HOST)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{live_app}/admin/login/?next=/admin/campaigns/campaign/add/")
            page.fill("#id_username", USERNAME)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#id_name")).to_be_visible()

            page.fill("#id_name", CAMPAIGN_NAME)
            page.select_option("#id_kind", "christmas")
            page.select_option("#id_partner", label=PARTNER_SLUG)
            page.fill("#id_starts_at_0", (now - timedelta(days=1)).strftime("%Y-%m-%d"))
            page.fill("#id_starts_at_1", "00:00:00")
            page.fill("#id_ends_at_0", (now + timedelta(days=30)).strftime("%Y-%m-%d"))
            page.fill("#id_ends_at_1", "00:00:00")
            page.check("input[name=purchase_channels][value=in_store]")
            page.check("input[name=purchase_channels][value=ecommerce]")
            page.fill("#id_currency", "EUR")
            page.fill("#id_min_purchase_value", "25.00")
            page.fill("#id_reward", '{"type": "voucher", "value": "10.00", "description": "10 EUR off"}')
            page.fill("#id_notification", '{"title": "You won!", "body": "{{ award.value }} for you"}')

            # Two item rules in the inline (one empty row is shown; "Add another" makes the second).
            page.select_option("#id_item_rules-0-kind", "blacklist")
            page.select_option("#id_item_rules-0-match", "category")
            page.fill("#id_item_rules-0-value", "tobacco")
            page.click("#item_rules-group .add-row a")
            page.select_option("#id_item_rules-1-kind", "whitelist")
            page.select_option("#id_item_rules-1-match", "sku")
            page.fill("#id_item_rules-1-value", "SKU-XMAS-1")
            page.fill("#id_item_rules-1-multiplier", "2")

            page.click("input[name=_continue]")
            expect(page.locator(".messagelist")).to_contain_text("was added successfully")
            expect(page.locator(".campaign-status")).to_have_text("Draft")

            page.click(".campaign-lifecycle-activate")
            expect(page.locator(".messagelist")).to_contain_text("is now active")
            expect(page.locator(".campaign-status")).to_have_text("Active")
            save_screenshot(page, "campaign-activated")

            page.goto(f"{live_app}/admin/campaigns/campaign/?status__exact=active")
            expect(page.locator("#result_list")).to_contain_text(CAMPAIGN_NAME)
            expect(page.locator("#result_list .campaign-status-active")).to_have_count(1)
        finally:
            browser.close()

    def stored() -> tuple:
        from campaigns.models import Campaign, CampaignTransition

        campaign = Campaign.objects.select_related("partner").get(name=CAMPAIGN_NAME)
        rules = sorted(campaign.item_rules.values_list("kind", "value"))
        transitions = list(
            CampaignTransition.objects.filter(campaign=campaign).values_list("to_status", "actor")
        )
        return campaign.status, campaign.partner.slug, rules, transitions

    status, partner_slug, rules, transitions = committed(SCHEMA, stored)
    assert status == "active"
    assert partner_slug == PARTNER_SLUG
    assert rules == [("blacklist", "tobacco"), ("whitelist", "SKU-XMAS-1")]
    assert transitions == [("draft", f"user:{USERNAME}"), ("active", f"user:{USERNAME}")]
