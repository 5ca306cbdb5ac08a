"""Screenshot of a campaign dashboard in headless Chromium: a CRM viewer logs in and the chart renders.

Same approach as tests/campaigns/test_admin_browser.py: the real WSGI application in a thread, and the
rows the browser needs committed up front (another connection) and removed at the end.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.campaigns.conftest import committed
from tests.support.browser import BRAND_HOST as HOST
from tests.support.browser import launch_chromium, requires_chromium

SCHEMA = "brand_a"
USERNAME = "dashboard-viewer"
PASSWORD = "dashboard-test-password-1"
CAMPAIGN_NAME = "Dashboard browser campaign"
PARTNER_SLUG = "dashboard-browser-partner"
PURCHASE_PREFIX = "dash-browser-"

pytestmark = requires_chromium


def _cleanup() -> None:
    from django.contrib.auth import get_user_model

    from campaigns.models import Campaign
    from partners.models import Partner
    from purchases.models import Purchase

    Campaign.objects.filter(name=CAMPAIGN_NAME).delete()
    Purchase.objects.filter(external_id__startswith=PURCHASE_PREFIX).delete()
    Partner.objects.filter(slug=PARTNER_SLUG).delete()
    get_user_model().objects.filter(username=USERNAME).delete()


def _seed() -> int:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from monitoring.rollups import hour_floor, rollup_refresh
    from tests.campaigns.factories import CampaignFactory
    from tests.monitoring.conftest import add_attempts, add_evaluation
    from tests.partners.factories import PartnerFactory

    _cleanup()
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="CRM viewer"))
    campaign = CampaignFactory(name=CAMPAIGN_NAME, status="active", partner=PartnerFactory(slug=PARTNER_SLUG))
    now = hour_floor(timezone.now())
    n = 0
    for hours_ago, count in ((20, 3), (12, 8), (6, 5), (3, 12), (1, 6), (0, 2)):
        for i in range(count):
            evaluation = add_evaluation(
                campaign, now - timedelta(hours=hours_ago) + timedelta(seconds=i), eligible=i % 3 != 0
            )
            type(evaluation.purchase).objects.filter(pk=evaluation.purchase_id).update(
                external_id=f"{PURCHASE_PREFIX}{n}"
            )
            n += 1
    dispatch = add_attempts(campaign, now - timedelta(hours=3), ["retry", "sent"])
    type(dispatch.purchase).objects.filter(pk=dispatch.purchase_id).update(external_id=f"{PURCHASE_PREFIX}d")
    rollup_refresh(since=now - timedelta(hours=24))
    return campaign.pk


@pytest.fixture
def committed_dashboard(brands, db):
    campaign_id = committed(SCHEMA, _seed)
    try:
        yield campaign_id
    finally:
        committed(SCHEMA, _cleanup)


def test_campaign_dashboard_renders_its_chart(live_app, committed_dashboard, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url = f"{live_app}/admin/monitoring/campaignhourlyrollup/campaign/{committed_dashboard}/"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, host=HOST)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{live_app}/admin/login/?next={url.removeprefix(live_app)}")
            page.fill("#id_username", USERNAME)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#campaign-dashboard")).to_be_visible()
            expect(page.locator("h1")).to_contain_text(CAMPAIGN_NAME)

            chart = page.locator("#chart-evaluations svg")
            expect(chart).to_be_visible()
            points = chart.locator("circle.data-point[data-series=Evaluated]")
            expect(points).to_have_count(48)
            values = [int(v) for v in points.evaluate_all("ps => ps.map(p => p.dataset.value)")]
            assert values[-1] == 2 and values[-4] == 12 and sum(values) == 36
            # The chart is really drawn: a non-empty box and a polyline with 48 vertices.
            box = chart.bounding_box()
            assert box is not None and box["width"] > 400 and box["height"] > 150
            polyline = chart.locator("polyline.series-evaluated").get_attribute("points")
            assert len(polyline.split()) == 48
            expect(page.locator("#lifetime-evaluated")).to_have_text("36")
            expect(page.locator("#lifetime-success-rate")).to_have_text("50.0 %")

            screenshot = tmp_path / "campaign-dashboard.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
            assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            browser.close()
