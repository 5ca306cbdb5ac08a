"""Purchases and evaluations as a CRM person reads them: view-only pages, items as a table, each
evaluation explained line by line by the rules engine, and prefix search on the existing indexes."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Campaign
from purchases.admin import PurchaseAdmin
from purchases.models import Purchase
from purchases.selectors import prefix_q, purchase_evaluations_explained
from purchases.services import purchases_evaluate, purchases_ingest
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory
from tests.purchases.conftest import purchase_body
from tests.purchases.factories import make_purchase

HOST = "brand-a.localhost"


@pytest.fixture
def superuser(brand_a) -> Client:
    user = get_user_model().objects.create_superuser("records-admin", "r@example.com", "pw-123456789")
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


@pytest.fixture
def campaign(brand_a) -> Campaign:
    campaign = CampaignFactory(
        name="Summer toys", status=Campaign.Status.ACTIVE, min_purchase_value=Decimal("10")
    )
    ItemRuleFactory(campaign=campaign, kind="blacklist", match="category", value="tobacco")
    ItemRuleFactory(
        campaign=campaign,
        kind="whitelist",
        match="sku",
        value="SKU-TOY",
        multiplier=Decimal("2.0000"),
        bonus_per_unit=Decimal("0.5000"),
    )
    return campaign


def evaluated_purchase(**overrides) -> Purchase:
    [result] = purchases_ingest(bodies=[purchase_body(**overrides)])
    assert result.status == "accepted", result
    purchases_evaluate(purchase_ids=[result.purchase_id])
    return Purchase.objects.get(pk=result.purchase_id)


ITEMS = [
    {"sku": "CIG-1", "category": "tobacco", "quantity": 1, "unit_price": "8.00"},
    {"sku": "SKU-TOY", "category": "toys", "quantity": 3, "unit_price": "12.345"},
    {"sku": "BREAD", "category": "bakery", "quantity": 1, "unit_price": "2.10"},
]


def test_the_purchase_page_is_view_only_with_items_and_the_explained_evaluation(superuser, campaign):
    purchase = evaluated_purchase(items=ITEMS, total="47.135")
    [evaluation] = purchase.evaluations.filter(campaign=campaign)
    assert evaluation.eligible_value == Decimal("77.67")  # 37.035 × 2 + 3 × 0.5 + 2.10, rounded once

    page = superuser.get(f"/admin/purchases/purchase/{purchase.pk}/change/").content.decode()

    assert "View purchase" in page and "Change purchase" not in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page and "deletelink" not in page
    assert "47.14 EUR" in page and "47.1400" not in page
    # Items as a table: unit price and line value as money.
    assert re.search(
        r"<td>SKU-TOY</td><td>toys</td><td[^>]*>3</td><td[^>]*>12.35</td><td[^>]*>37.04</td>", page
    )
    # The explanation: each line's counted value and the rule that decided it.
    assert "How Summer toys counted this purchase" in page
    assert "blacklist (category tobacco): never counts" in page
    assert "whitelist (SKU SKU-TOY): × 2 + 0.50 EUR per unit" in page
    assert "no rule: counted as is" in page
    assert re.search(r'class="money counted-total">77.67<', page)
    assert re.search(r'class="eligible-value">77.67 EUR<', page)
    # Raw JSON and internal fields are not on show; the hash is in the collapsed "Technical" fieldset.
    assert '"unit_price"' not in page
    technical = page[page.index('<fieldset class="module aligned collapse"') :]
    assert re.match(r"<fieldset[^>]*>\s*<details><summary>\s*<h2[^>]*>Technical</h2>", technical)
    assert "field-body_hash" in technical and "field-body_hash" not in page[: page.index(technical[:60])]
    # Links down the pipeline: the dispatch of the eligible pair and the evaluation.
    dispatch = purchase.dispatches.get(campaign=campaign)
    assert f"/admin/dispatches/dispatch/{dispatch.pk}/change/" in page
    assert f"/admin/purchases/evaluation/{evaluation.pk}/change/" in page
    assert f"/admin/dispatches/dispatch/?purchase__id__exact={purchase.pk}" in page


def test_an_out_of_scope_purchase_says_its_lines_were_not_counted(superuser, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(purchase_channels=["in_store"])
    purchase = evaluated_purchase(items=ITEMS, total="47.135", channel="ecommerce")
    assert purchase.evaluations.get(campaign=campaign).reason == "channel_not_allowed"
    page = superuser.get(f"/admin/purchases/purchase/{purchase.pk}/change/").content.decode()
    assert "Not eligible: channel not in the campaign" in page
    assert "The lines were not counted" in page


def test_a_changed_campaign_is_explained_with_its_current_rules_and_says_so(superuser, campaign):
    purchase = evaluated_purchase(items=ITEMS, total="47.135")
    Campaign.objects.filter(pk=campaign.pk).update(version=campaign.version + 1)
    campaign.item_rules.filter(kind="whitelist").delete()
    [explained] = [
        e
        for e in purchase_evaluations_explained(purchase=purchase)
        if e.evaluation.campaign_id == campaign.pk
    ]
    assert not explained.same_version and not explained.agrees
    page = superuser.get(f"/admin/purchases/purchase/{purchase.pk}/change/").content.decode()
    assert "The campaign's rules changed since" in page
    assert "the stored result is the one that was used" in page


def test_a_paused_campaign_explains_what_it_counted_while_active(campaign):
    purchase = evaluated_purchase(items=ITEMS, total="47.135")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)  # no version bump
    [explained] = [
        e
        for e in purchase_evaluations_explained(purchase=purchase)
        if e.evaluation.campaign_id == campaign.pk
    ]
    assert explained.same_version and explained.agrees
    assert explained.explanation.counted_total == Decimal("77.67")


ITEM = st.fixed_dictionaries(
    {
        "sku": st.sampled_from(["SKU-TOY", "CIG-1", "BREAD", "SKU-X"]),
        "category": st.sampled_from(["toys", "tobacco", "bakery", "drinks"]),
        "quantity": st.integers(1, 20),
        "unit_price": st.decimals("0", "200", places=3).map(lambda price: format(price, "f")),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=st.lists(ITEM, min_size=1, max_size=6), channel=st.sampled_from(["in_store", "ecommerce"]))
def test_the_explained_total_is_the_stored_eligible_value_for_random_purchases(campaign, items, channel):
    purchase = evaluated_purchase(
        items=items, total=None, channel=channel, external_id=f"prop-{uuid.uuid4()}"
    )
    explained = purchase_evaluations_explained(purchase=purchase)
    assert explained, "the purchase was evaluated"
    for row in explained:
        assert row.same_version and row.agrees
        if row.explanation.lines_counted:
            assert row.explanation.counted_total == row.evaluation.eligible_value


def test_search_is_by_prefix_of_external_id_or_customer_id(superuser):
    make_purchase(external_id="ORD-2026-0001", customer_id="alice-77")
    make_purchase(external_id="ORD-2026-0002", customer_id="bob-12")
    make_purchase(external_id="XX-ORD-2026", customer_id="carol")

    def found(term: str) -> set[str]:
        page = superuser.get("/admin/purchases/purchase/", {"q": term}).content.decode()
        return set(re.findall(r"(ORD-2026-000\d|XX-ORD-2026)</a>", page))

    assert found("ORD-2026") == {"ORD-2026-0001", "ORD-2026-0002"}
    assert found("bob") == {"ORD-2026-0002"}
    assert found("ord-2026") == set()  # letter case as sent, as the help text says
    assert found("2026") == set()  # the start, not the middle
    page = superuser.get("/admin/purchases/purchase/").content.decode()
    assert "Searches the start of the purchase&#x27;s external id or the customer id" in page


@pytest.mark.parametrize(
    "field,index", [("external_id", "purchase_external_id_unique"), ("customer_id", "purchase_customer_idx")]
)
def test_the_prefix_search_reads_the_existing_btree_index(brand_a, field, index):
    # Without the ORDER BY, as below: a small table may be walked by its primary key backwards instead.
    queryset = Purchase.objects.filter(prefix_q(field, "ORD-20")).order_by()
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_admin_search_reads_both_indexes(brand_a):
    queryset, may_have_duplicates = PurchaseAdmin(Purchase, None).get_search_results(
        None, Purchase.objects.all(), " ORD "
    )
    assert not may_have_duplicates
    # Without the ORDER BY: on a small table the planner may walk the primary key backwards and filter,
    # which says nothing about the search; the point is that each term can use its index.
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "purchase_external_id_unique" in plan and "purchase_customer_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert params == ("ORD", "ORD\U0010ffff", "ORD%") * 2  # the term trimmed, as a prefix range


def test_the_evaluation_page_is_view_only_and_links_both_ways(superuser, campaign):
    purchase = evaluated_purchase(items=ITEMS, total="47.135")
    evaluation = purchase.evaluations.get(campaign=campaign)
    page = superuser.get(f"/admin/purchases/evaluation/{evaluation.pk}/change/").content.decode()
    assert "View evaluation" in page and 'name="_save"' not in page
    assert f"/admin/purchases/purchase/{purchase.pk}/change/" in page
    assert f"/admin/dispatches/dispatch/{purchase.dispatches.get(campaign=campaign).pk}/change/" in page
    assert "77.67 EUR" in page and "eligible" in page
