"""A CRM person in a real browser (headless Chromium driven by Playwright), through forms only:

1. creates a partner and a campaign (reward and push as fields, never JSON), sees the push preview,
   activates it, and is asked to confirm before cancelling it;
2. imports item rules from a semicolon CSV saved by a spreadsheet (BOM, `;`, labels like
   `Blacklist;Category;tobacco`), sees the preview of what changes, applies it.

The server thread cannot see test transactions: the rows the browser needs are committed up front
and removed at the end (tests/support/committed.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.campaigns.conftest import committed
from tests.support.browser import admin_login, requires_chromium, save_screenshot

SCHEMA = "brand_a"
USERNAME = "browser-forms-crm"
PASSWORD = "browser-forms-password-1"
CAMPAIGN_NAME = "Forms browser campaign"
PARTNER_SLUG = "forms-browser-partner"
IMPORT_CAMPAIGN = "Forms browser CSV campaign"

pytestmark = requires_chromium


def _cleanup() -> None:
    from django.contrib.auth import get_user_model

    from campaigns.models import Campaign
    from partners.models import Partner

    campaigns = Campaign.objects.filter(name__startswith="Forms browser")
    partner_ids = set(campaigns.values_list("partner_id", flat=True))
    campaigns.delete()
    Partner.objects.filter(slug=PARTNER_SLUG).delete()
    Partner.objects.filter(pk__in=partner_ids, campaigns__isnull=True).delete()  # the factories' partners
    get_user_model().objects.filter(username=USERNAME).delete()


def _create_user() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    _cleanup()  # leftovers of an interrupted run
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="CRM editor"))


@pytest.fixture
def committed_crm_user(brands, db) -> Iterator[None]:
    committed(SCHEMA, _create_user)
    try:
        yield
    finally:
        committed(SCHEMA, _cleanup)


def test_crm_person_creates_a_partner_and_a_campaign_through_forms_only(
    live_app, chromium_page, committed_crm_user
):
    from playwright.sync_api import expect

    page = chromium_page
    now = timezone.now()
    admin_login(
        page, live_app, username=USERNAME, password=PASSWORD, next_path="/admin/partners/partner/add/"
    )

    page.fill("#id_slug", PARTNER_SLUG)
    page.fill("#id_name", "Forms Browser Partner")
    page.fill("#id_submission_url", "https://partner.example/purchases")
    page.fill("#id_auth_url", "https://partner.example/join")
    save_screenshot(page, "partner-form")
    page.click("input[name=_save]")
    expect(page.locator("body")).to_contain_text("whsec_")

    page.goto(f"{live_app}/admin/campaigns/campaign/add/")
    page.fill("#id_name", CAMPAIGN_NAME)
    page.select_option("#id_kind", "christmas")
    page.select_option("#id_partner", label=PARTNER_SLUG)
    page.fill("#id_starts_at_0", (now - timedelta(days=1)).strftime("%Y-%m-%d"))
    page.fill("#id_starts_at_1", "00:00:00")
    page.fill("#id_ends_at_0", (now + timedelta(days=30)).strftime("%Y-%m-%d"))
    page.fill("#id_ends_at_1", "00:00:00")
    page.check("input[name=purchase_channels][value=in_store]")
    page.check("input[name=purchase_channels][value=ecommerce]")
    page.select_option("#id_currency", "EUR")
    page.fill("#id_min_purchase_value", "25")
    page.select_option("#id_reward_type", "voucher")
    page.fill("#id_reward_value", "10")
    page.fill("#id_reward_description", "10 € off your next purchase")
    page.fill("#id_notification_title", "You won, {{ customer_id }}!")
    page.fill("#id_notification_body", "{{ award.value }} {{ award.currency }} off at {{ campaign.name }}")
    expect(page.locator("#push-preview-body")).to_have_text(f"10.00 EUR off at {CAMPAIGN_NAME}")
    expect(page.locator("#push-preview-title")).to_have_text("You won, cust-1042!")
    page.locator("#push-preview").scroll_into_view_if_needed()
    save_screenshot(page, "campaign-preview-push")

    # A typo in a variable: the live preview says so, before saving.
    page.fill("#id_notification_body", "{{ award.valu }} off")
    expect(page.locator("#push-preview-error")).to_contain_text("award.valu")
    page.fill("#id_notification_body", "{{ award.value }} {{ award.currency }} off at {{ campaign.name }}")
    expect(page.locator("#push-preview-error")).to_be_hidden()

    page.select_option("#id_item_rules-0-kind", "blacklist")
    page.select_option("#id_item_rules-0-match", "category")
    page.fill("#id_item_rules-0-value", "tobacco")
    page.click("#item_rules-group .add-row a")
    page.select_option("#id_item_rules-1-kind", "whitelist")
    page.select_option("#id_item_rules-1-match", "sku")
    page.fill("#id_item_rules-1-value", "SKU-XMAS-1")
    page.fill("#id_item_rules-1-multiplier", "2")
    save_screenshot(page, "campaign-form")

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator(".campaign-status")).to_have_text("Draft")
    expect(page.locator(".field-version .readonly")).to_have_text("1")
    expect(page.locator("#id_min_purchase_value")).to_have_value("25.00")
    expect(page.locator("#id_item_rules-1-multiplier")).to_have_value("2")

    page.click(".campaign-lifecycle-activate")
    expect(page.locator(".messagelist")).to_contain_text("is now active")

    page.click(".campaign-lifecycle-cancel")
    expect(page.locator(".campaign-confirm")).to_contain_text("cannot be undone")
    save_screenshot(page, "cancel-confirm")
    page.click("text=No, go back")
    expect(page.locator(".campaign-status")).to_have_text("Active")

    def stored() -> tuple:
        from campaigns.models import Campaign

        campaign = Campaign.objects.select_related("partner").get(name=CAMPAIGN_NAME)
        return (
            campaign.status,
            campaign.version,
            campaign.partner.slug,
            campaign.reward,
            campaign.notification["body"],
            sorted(campaign.item_rules.values_list("kind", "value")),
        )

    status, version, slug, reward, body, rules = committed(SCHEMA, stored)
    assert (status, version, slug) == ("active", 1, PARTNER_SLUG)
    assert reward == {"type": "voucher", "value": "10.00", "description": "10 € off your next purchase"}
    assert body == "{{ award.value }} {{ award.currency }} off at {{ campaign.name }}"
    assert rules == [("blacklist", "tobacco"), ("whitelist", "SKU-XMAS-1")]


def _campaign_with_a_rule() -> int:
    from tests.campaigns.factories import CampaignFactory, ItemRuleFactory

    campaign = CampaignFactory(name=IMPORT_CAMPAIGN)
    ItemRuleFactory(campaign=campaign, kind="whitelist", match="sku", value="SKU-1", multiplier="3")
    return campaign.pk


SPREADSHEET_CSV = (
    "\ufeffKind;Match;Value;Multiplier;Bonus per unit\r\n"
    "Blacklist;Category;tobacco;;\r\n"
    "Whitelist;SKU;SKU-1;1,5;0,20\r\n"
    "Whitelist;Category;toys;2;0\r\n"
).encode()


def test_crm_person_imports_a_semicolon_csv_from_a_spreadsheet(live_app, chromium_page, committed_crm_user):
    from playwright.sync_api import expect

    page = chromium_page
    campaign_id = committed(SCHEMA, _campaign_with_a_rule)
    change = f"/admin/campaigns/campaign/{campaign_id}/change/"
    admin_login(page, live_app, username=USERNAME, password=PASSWORD, next_path=change)

    # The import sits at the top of the page, above the form and its Save buttons.
    import_box = page.locator("#item-rules-csv").bounding_box()
    save_row = page.locator(".submit-row").first.bounding_box()
    assert import_box["y"] < save_row["y"] and import_box["y"] < 900

    page.set_input_files(
        "#item-rule-import input[type=file]",
        files=[{"name": "rules.csv", "mimeType": "text/csv", "buffer": SPREADSHEET_CSV}],
    )
    page.click("#item-rule-import input[type=submit]")
    expect(page.locator(".csv-import-preview")).to_contain_text("semicolon-separated")
    expect(page.locator(".plan-added")).to_have_text("2 added")
    expect(page.locator(".plan-changed")).to_have_text("1 changed")
    expect(page.locator(".plan-table-changed")).to_contain_text("3 → 1.5")
    save_screenshot(page, "csv-import-preview")

    page.click(".csv-import-apply")
    expect(page.locator(".messagelist")).to_contain_text("2 added, 1 changed, 0 removed")
    page.locator("#item_rules-group").scroll_into_view_if_needed()
    save_screenshot(page, "csv-import-applied")

    def stored() -> tuple:
        from campaigns.models import Campaign

        campaign = Campaign.objects.get(pk=campaign_id)
        rules = sorted(
            (kind, value, str(multiplier.normalize()))
            for kind, value, multiplier in campaign.item_rules.values_list("kind", "value", "multiplier")
        )
        return campaign.version, rules

    version, rules = committed(SCHEMA, stored)
    assert version == 2
    assert rules == [("blacklist", "tobacco", "1"), ("whitelist", "SKU-1", "1.5"), ("whitelist", "toys", "2")]
