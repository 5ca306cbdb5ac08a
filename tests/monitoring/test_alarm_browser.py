"""In headless Chromium: a default alarm fires and a CRM viewer sees it in the brand admin.

Dead dispatches above the default threshold are committed in brand_a, the monitoring tick runs as the
periodic job would, then a CRM viewer (not a superuser) opens the dashboards and follows the links to
the brand's alarms. Screenshots: dashboard-overview, campaign-dashboard, brand-alarms.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.alarms.defaults import DEFAULT_RULES
from tests.campaigns.conftest import committed
from tests.support.browser import admin_login, requires_chromium, save_screenshot

SCHEMA = "brand_a"
USERNAME = "alarm-browser-viewer"
PASSWORD = "alarm-browser-password-1"
CAMPAIGN_NAME = "Summer loyalty week"
PARTNER_SLUG = "alarm-browser-partner"
PURCHASE_PREFIX = "alarm-browser-"
DEAD_LETTERS = 12  # the default rule fires above 10

pytestmark = requires_chromium


def _cleanup() -> None:
    from django.contrib.auth import get_user_model

    from campaigns.models import Campaign
    from dispatches.models import Dispatch
    from monitoring.alarms.models import Alarm
    from monitoring.models import HealthSnapshot
    from partners.models import Partner
    from purchases.models import Purchase

    Alarm.objects.filter(brand__schema_name=SCHEMA).delete()
    Dispatch.objects.filter(campaign__name=CAMPAIGN_NAME).delete()
    Campaign.objects.filter(name=CAMPAIGN_NAME).delete()
    Purchase.objects.filter(external_id__startswith=PURCHASE_PREFIX).delete()
    Partner.objects.filter(slug=PARTNER_SLUG).delete()
    HealthSnapshot.objects.all().delete()
    get_user_model().objects.filter(username=USERNAME).delete()


def _seed() -> int:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from dispatches.models import Dispatch
    from monitoring.tasks import monitoring_tick_task
    from purchases.models import Evaluation
    from tests.campaigns.factories import CampaignFactory
    from tests.partners.factories import PartnerFactory
    from tests.purchases.factories import PurchaseFactory

    _cleanup()
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="CRM viewer"))
    partner = PartnerFactory(slug=PARTNER_SLUG, name="Rewards partner")
    campaign = CampaignFactory(name=CAMPAIGN_NAME, status="active", partner=partner)
    now = timezone.now()
    outcomes = (
        ["eligible"] * 30 + ["below_minimum"] * 6 + ["outside_validity"] * 3 + ["no_eligible_items"] * 2
    )
    for n, outcome in enumerate(outcomes):
        purchase = PurchaseFactory(external_id=f"{PURCHASE_PREFIX}{n}")
        eligible = outcome == "eligible"
        Evaluation.objects.create(
            purchase=purchase, campaign=campaign, campaign_version=campaign.version, eligible=eligible,
            eligible_value=f"{20 + n}.45" if eligible else "0", reason=None if eligible else outcome,
            evaluated_at=now - timedelta(minutes=90 - 2 * n),
        )  # fmt: skip
        if eligible and n < DEAD_LETTERS:
            Dispatch.objects.create(
                purchase=purchase, campaign=campaign, partner=partner, status="dead", attempts=5
            )
        elif eligible:
            Dispatch.objects.create(
                purchase=purchase, campaign=campaign, partner=partner, status="sent", attempts=1
            )
    monitoring_tick_task.run()  # what the periodic "monitoring tick" does every minute
    return campaign.pk


@pytest.fixture
def fired_alarm(brands, db):
    campaign_id = committed(SCHEMA, _seed)
    try:
        yield campaign_id
    finally:
        committed(SCHEMA, _cleanup)


def test_a_default_alarm_fires_and_a_crm_viewer_sees_it(live_app, chromium_page, fired_alarm):
    from playwright.sync_api import expect

    page = chromium_page
    overview = "/admin/monitoring/campaignhourlyrollup/"
    admin_login(page, live_app, username=USERNAME, password=PASSWORD, next_path=overview)

    expect(page.locator("#site-name")).to_contain_text("Brand A")
    expect(page.locator("#figures-freshness")).to_contain_text("refreshed every minute")
    row = page.locator(f'tr.campaign-row[data-campaign-id="{fired_alarm}"]')
    expect(row.locator(".overview-evaluated")).to_have_text("41")
    expect(row.locator(".overview-eligible")).to_have_text("30")
    expect(page.locator("#health-dead-letters a")).to_have_text(str(DEAD_LETTERS))
    save_screenshot(page, "dashboard-overview")

    row.locator("a", has_text=CAMPAIGN_NAME).click()
    expect(page.locator("#campaign-dashboard")).to_be_visible()
    expect(page.locator("#now-dead a")).to_have_attribute(
        "href", "/admin/dispatches/dispatch/?status__exact=dead"
    )
    expect(page.locator('#ineligible-reasons tr[data-reason="below_minimum"]')).to_contain_text("6")
    expect(page.locator("#lifetime-eligible-value")).to_have_text("1048.50 EUR")
    save_screenshot(page, "campaign-dashboard")

    page.locator("a", has_text="Alarms of this brand").click()
    expect(page.locator("#brand-alarms")).to_be_visible()
    firing = page.locator("#alarms-firing tr.alarm-firing")
    expect(firing).to_have_count(1)
    expect(firing).to_contain_text("Dead letters (brand_a)")
    expect(firing).to_contain_text(str(DEAD_LETTERS))
    expect(page.locator("#alarm-rules tr.alarm-rule")).to_have_count(len(DEFAULT_RULES))
    assert (
        page.locator("#brand-alarms").locator("input, button, select, textarea").count() == 0
    )  # nothing to change here
    save_screenshot(page, "brand-alarms")
