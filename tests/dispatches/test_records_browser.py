"""A CRM person in a real browser reads the pipeline's records and replays dead letters.

(1) A CRM viewer opens a purchase and sees each evaluation explained line by line (screenshot
`purchase-explained`); (2) a CRM editor, not a superuser, opens the dead-letter list, replays it
through the confirmation page (screenshots `dead-letters`, `replay-confirm`, `replay-done`) and the
dispatches are pending again in the database; a dispatch with its attempts is `dispatch-detail`.
Rows are committed for the server thread and removed at the end (tests/campaigns/test_admin_browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.campaigns.conftest import committed
from tests.support.browser import admin_login, requires_chromium, save_screenshot

SCHEMA = "brand_a"
EDITOR = "records-browser-editor"
VIEWER = "records-browser-viewer"
PASSWORD = "records-browser-password-1"
CAMPAIGN_NAME = "Records browser: Back to school"
PARTNER_SLUG = "records-browser-partner"
PREFIX = "RB-ORD-"
DEAD_LETTERS = "/admin/dispatches/dispatch/?status__exact=dead"

pytestmark = requires_chromium


def _cleanup(outbox_after: int | None = None) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    from campaigns.models import Campaign
    from outbox.models import OutboxMessage
    from partners.models import Partner
    from purchases.models import Purchase

    campaigns = Campaign.objects.filter(name=CAMPAIGN_NAME)
    Purchase.objects.filter(external_id__startswith=PREFIX).delete()  # evaluations, dispatches, attempts
    campaigns.delete()
    Partner.objects.filter(slug=PARTNER_SLUG).delete()
    if outbox_after is not None:  # what the evaluation and the replays enqueued (relayed at once)
        OutboxMessage.objects.filter(id__gt=outbox_after).delete()
    get_user_model().objects.filter(username__in=[EDITOR, VIEWER]).delete()
    Session.objects.all().delete()
    # Audit events stay: they are append-only (ADR 0010), and name dispatch ids no run reuses.


def _create_records() -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from campaigns.models import Campaign
    from campaigns.snapshots import clear_snapshot_cache
    from dispatches.models import Dispatch, DispatchAttempt
    from purchases.models import Evaluation, Purchase
    from purchases.services import purchases_evaluate, purchases_ingest
    from tests.campaigns.factories import CampaignFactory, ItemRuleFactory
    from tests.partners.factories import PartnerFactory

    _cleanup()  # leftovers of an interrupted run
    users = get_user_model().objects
    users.create_user(EDITOR, password=PASSWORD, is_staff=True).groups.add(
        Group.objects.get(name="CRM editor")
    )
    users.create_user(VIEWER, password=PASSWORD, is_staff=True).groups.add(
        Group.objects.get(name="CRM viewer")
    )
    partner = PartnerFactory(slug=PARTNER_SLUG, name="School Rewards Ltd")
    campaign = CampaignFactory(
        name=CAMPAIGN_NAME,
        status=Campaign.Status.ACTIVE,
        partner=partner,
        min_purchase_value=Decimal("20.00"),
    )
    ItemRuleFactory(campaign=campaign, kind="blacklist", match="category", value="tobacco")
    ItemRuleFactory(
        campaign=campaign,
        kind="whitelist",
        match="sku",
        value="PEN-BLUE",
        multiplier=Decimal("2"),
        bonus_per_unit=Decimal("0.50"),
    )
    ItemRuleFactory(
        campaign=campaign, kind="whitelist", match="category", value="books", multiplier=Decimal("1.5")
    )
    clear_snapshot_cache()
    purchased_at = (timezone.now() - timedelta(hours=2)).isoformat()
    [explained] = purchases_ingest(
        bodies=[
            {
                "external_id": f"{PREFIX}1001",
                "customer_id": "cust-lena-42",
                "channel": "in_store",
                "purchased_at": purchased_at,
                "currency": "EUR",
                "items": [
                    {"sku": "PEN-BLUE", "category": "stationery", "quantity": 4, "unit_price": "1.99"},
                    {"sku": "ATLAS-2027", "category": "books", "quantity": 1, "unit_price": "24.90"},
                    {"sku": "CIG-10", "category": "tobacco", "quantity": 2, "unit_price": "7.80"},
                    {"sku": "BAG-RED", "category": "bags", "quantity": 1, "unit_price": "12.50"},
                ],
            }
        ]
    )
    purchases_evaluate(purchase_ids=[explained.purchase_id])
    # Three dispatches the partner refused until they died: the dead letters.
    dead_ids = []
    for number in range(3):
        purchase = Purchase.objects.create(
            external_id=f"{PREFIX}20{number}",
            customer_id=f"cust-dead-{number}",
            channel="in_store",
            purchased_at=timezone.now() - timedelta(hours=1),
            currency="EUR",
            items=[{"sku": "ATLAS-2027", "category": "books", "quantity": 1, "unit_price": "24.90"}],
            total=Decimal("24.90"),
            body_hash=f"{number:064x}",
            evaluated_at=timezone.now(),
        )
        Evaluation.objects.create(
            purchase=purchase,
            campaign=campaign,
            campaign_version=campaign.version,
            eligible=True,
            eligible_value=Decimal("37.35"),
            evaluated_at=timezone.now(),
        )
        dispatch = Dispatch.objects.create(
            purchase=purchase,
            campaign=campaign,
            partner=partner,
            status="dead",
            attempts=3,
            last_status_code=503,
            last_error="HTTP 503: partner under maintenance",
        )
        for attempt in (1, 2, 3):
            DispatchAttempt.objects.create(
                dispatch=dispatch,
                number=attempt,
                attempted_at=timezone.now() - timedelta(minutes=40 - 10 * attempt),
                status_code=503,
                latency_ms=180 + attempt,
                outcome="dead" if attempt == 3 else "retry",
                error="HTTP 503: partner under maintenance",
            )
        dead_ids.append(str(dispatch.pk))
    return {"purchase_id": explained.purchase_id, "dead_ids": dead_ids}


def _last_outbox_id() -> int:
    from django.db.models import Max

    from outbox.models import OutboxMessage

    return OutboxMessage.objects.aggregate(last=Max("id"))["last"] or 0


@pytest.fixture
def records(brands, db) -> Iterator[dict]:
    outbox_after = committed(SCHEMA, _last_outbox_id)
    made = committed(SCHEMA, _create_records)
    try:
        yield made
    finally:
        committed(SCHEMA, _cleanup, outbox_after)


def test_a_crm_viewer_reads_the_explained_evaluation(live_app, chromium_page, records):
    from playwright.sync_api import expect

    page = chromium_page
    purchase_url = f"/admin/purchases/purchase/{records['purchase_id']}/change/"
    admin_login(page, live_app, username=VIEWER, password=PASSWORD, next_path=purchase_url)

    expect(page.locator("h1")).to_have_text("View purchase")
    expect(page.locator("input[name=_save]")).to_have_count(0)
    explained = page.locator(".explained-evaluation", has_text=CAMPAIGN_NAME)
    expect(explained).to_contain_text("Eligible")
    # 4 × 1.99 × 2 + 4 × 0.50 = 17.92; 24.90 × 1.5 = 37.35; tobacco never counts; the bag as is: 12.50.
    expect(explained.locator("tr.decided-whitelist").first).to_contain_text("17.92")
    expect(explained).to_contain_text("whitelist (SKU PEN-BLUE): × 2 + 0.50 EUR per unit")
    expect(explained).to_contain_text("whitelist (category books): × 1.5")
    expect(explained).to_contain_text("blacklist (category tobacco): never counts")
    expect(explained).to_contain_text("no rule: counted as is")
    expect(explained.locator(".counted-total")).to_have_text("67.77")
    expect(explained.locator(".eligible-value")).to_have_text("67.77 EUR")
    save_screenshot(page, "purchase-explained")

    # From the explanation down the chain: the dispatch of the eligible pair.
    explained.get_by_role("link", name="dispatch").click()
    expect(page.locator("h1")).to_have_text("View dispatch")
    expect(page.locator(".field-purchase_link")).to_contain_text(f"{PREFIX}1001")


def test_a_crm_editor_replays_the_dead_letters(live_app, chromium_page, records):
    from playwright.sync_api import expect

    page = chromium_page
    page.set_viewport_size({"width": 1600, "height": 900})  # the whole dead-letter table in the screenshots
    admin_login(page, live_app, username=EDITOR, password=PASSWORD, next_path="/admin/dispatches/dispatch/")
    page.goto(f"{live_app}/admin/dispatches/dispatch/{records['dead_ids'][0]}/change/")
    expect(page.locator("h1")).to_have_text("View dispatch")
    expect(page.locator("#attempt_log-group tbody tr.has_original")).to_have_count(3)
    save_screenshot(page, "dispatch-detail")

    page.goto(f"{live_app}{DEAD_LETTERS}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#result_list")).to_contain_text(f"{PREFIX}200 · cust-dead-0 · {CAMPAIGN_NAME}")
    save_screenshot(page, "dead-letters")

    page.check("#action-toggle")
    page.select_option("select[name=action]", "replay_dead")
    page.click("button[name=index]")
    expect(page.locator(".replay-count")).to_have_text("3 dead dispatches will be replayed")
    save_screenshot(page, "replay-confirm")

    page.click("input.replay-confirm")
    expect(page.locator(".messagelist")).to_contain_text("3 dead dispatches replayed: they are pending")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)
    save_screenshot(page, "replay-done")

    def stored() -> tuple:
        from core.models import AuditEvent
        from dispatches.models import Dispatch

        statuses = sorted(
            Dispatch.objects.filter(pk__in=records["dead_ids"]).values_list(
                "status", "replay_count", "attempt_base"
            )
        )
        actors = list(
            AuditEvent.objects.filter(
                action="dispatch.replayed", object_id__in=records["dead_ids"]
            ).values_list("actor", flat=True)
        )
        return statuses, actors

    statuses, actors = committed(SCHEMA, stored)
    # Pending again with a fresh budget of attempts. In the full suite a Celery worker started by an
    # earlier test may already have tried one (the partner's port 9 refuses): then it is retrying.
    assert {status for status, _, _ in statuses} <= {"pending", "retrying"}
    assert [(replays, base) for _, replays, base in statuses] == [(1, 3)] * 3
    assert actors == [f"user:{EDITOR}"] * 3
