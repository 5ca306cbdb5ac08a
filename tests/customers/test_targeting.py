"""Campaign targeting (SPEC §11): segment and eligibility rule, reason `customer_not_eligible` in the §3
order, one extra query per batch (not per purchase), untargeted campaigns unaffected."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.rules import (
    CampaignSpec,
    ItemRuleSpec,
    PurchaseFacts,
    PurchaseLine,
    SegmentSpec,
    compile_campaign,
)
from campaigns.snapshots import clear_snapshot_cache
from core.exceptions import ValidationFailed
from customers.dsl import parse_tree
from customers.dsl_python import CustomerSnapshot
from customers.models import Segment
from customers.services import events_ingest, segment_create, segment_members_import_csv, segment_update
from purchases.models import Evaluation
from purchases.services import purchases_evaluate, purchases_ingest
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory
from tests.purchases.conftest import purchase_body

NOW = timezone.now()
GOLD = {"attr": "attributes.tier", "op": "eq", "value": "gold"}


def spec(**targeting):
    return CampaignSpec(
        id=1,
        version=1,
        status="active",
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
        purchase_channels=frozenset({"in_store"}),
        currency="EUR",
        min_purchase_value=Decimal("10"),
        item_rules=(ItemRuleSpec("blacklist", "sku", "BAD"),),
        **targeting,
    )


def facts(customer, *, currency="EUR", sku="OK", total="20"):
    return PurchaseFacts(
        purchased_at=NOW,
        channel="in_store",
        currency=currency,
        lines=(PurchaseLine(sku, None, 1, Decimal(total)),),
        customer=customer,
        total=Decimal(total),
        store_id="s-1",
        evaluated_at=NOW,
    )


def test_reason_order_in_the_engine():
    campaign = compile_campaign(spec(eligibility=parse_tree(GOLD, purchase=True)))
    gold = CustomerSnapshot("g", attributes={"tier": "gold"})
    silver = CustomerSnapshot("s", attributes={"tier": "silver"})
    # currency_mismatch comes first, then customer_not_eligible, then no_eligible_items
    assert campaign.evaluate(facts(silver, currency="USD")).reason == "currency_mismatch"
    assert campaign.evaluate(facts(silver, sku="BAD")).reason == "customer_not_eligible"
    assert campaign.evaluate(facts(gold, sku="BAD")).reason == "no_eligible_items"
    assert campaign.evaluate(facts(gold, total="5")).reason == "below_minimum"
    assert campaign.evaluate(facts(gold)).eligible
    assert campaign.evaluate(facts(None)).reason == "customer_not_eligible"  # an unknown customer


def test_static_and_dynamic_segments_and_purchase_paths_in_the_engine():
    static = compile_campaign(spec(segment=SegmentSpec(id=7, kind="static")))
    assert static.evaluate(facts(CustomerSnapshot("a", segment_ids=frozenset({7})))).eligible
    assert (
        static.evaluate(facts(CustomerSnapshot("b", segment_ids=frozenset({8})))).reason
        == "customer_not_eligible"
    )
    dynamic = compile_campaign(
        spec(
            segment=SegmentSpec(id=8, kind="dynamic", definition=parse_tree(GOLD)),
            eligibility=parse_tree({"attr": "purchase.total", "op": "gte", "value": 15}, purchase=True),
        )
    )
    gold = CustomerSnapshot("g", attributes={"tier": "gold"})
    assert dynamic.evaluate(facts(gold, total="20")).eligible
    assert dynamic.evaluate(facts(gold, total="12")).reason == "customer_not_eligible"
    untargeted = compile_campaign(spec())
    assert untargeted.targeting is None and untargeted.evaluate(facts(None)).eligible


def _evaluate(bodies):
    results = purchases_ingest(bodies=bodies)
    purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    return {r.external_id: r.purchase_id for r in results}


def test_the_pipeline_applies_segment_and_eligibility(brand_a):
    clear_snapshot_cache()
    events_ingest(
        bodies=[
            {
                "event_id": "tv-1",
                "customer_id": "t-viewer",
                "name": "view",
                "occurred_at": (NOW - timedelta(days=1)).isoformat(),
            }
        ]
    )
    viewers = segment_create(name="Viewers", definition={"event": "view", "within_days": 7}, actor="system")
    vip_list = segment_create(name="VIP list", kind="static", actor="system")
    segment_members_import_csv(segment_id=vip_list.pk, content="customer_id\nt-vip\n", actor="system")
    by_segment = CampaignFactory(status="active", segment=viewers, min_purchase_value=Decimal("1"))
    by_list = CampaignFactory(status="active", segment=vip_list, min_purchase_value=Decimal("1"))
    by_rule = CampaignFactory(
        status="active",
        min_purchase_value=Decimal("1"),
        eligibility={
            "all": [
                {"attr": "purchase.store_id", "op": "eq", "value": "store-9"},
                {"attr": "purchase.total", "op": "gte", "value": 50},
            ]
        },
    )
    untargeted = CampaignFactory(status="active", min_purchase_value=Decimal("1"))
    ItemRuleFactory(campaign=by_rule, kind="blacklist", match="sku", value="SKU-A")
    ids = _evaluate(
        [
            purchase_body(external_id="t-1", customer_id="t-viewer"),
            purchase_body(external_id="t-2", customer_id="t-vip", store_id="store-1"),
            purchase_body(external_id="t-3", customer_id="t-new"),
        ]
    )
    reasons = {
        (e.purchase_id, e.campaign_id): e.reason
        for e in Evaluation.objects.filter(purchase_id__in=ids.values())
    }

    def reason(external_id, campaign):
        return reasons[(ids[external_id], campaign.pk)]

    assert reason("t-1", by_segment) is None
    assert reason("t-2", by_segment) == reason("t-3", by_segment) == "customer_not_eligible"
    assert reason("t-2", by_list) is None
    assert reason("t-1", by_list) == "customer_not_eligible"
    assert reason("t-1", by_rule) is None  # store-9, 60.00 (SKU-A blacklisted: 20.00 still eligible)
    assert reason("t-2", by_rule) == "customer_not_eligible"  # store-1
    assert {reason(e, untargeted) for e in ("t-1", "t-2", "t-3")} == {None}

    # Redefining the segment (not the campaign) changes the verdict of the next purchases.
    segment_update(
        segment_id=viewers.pk, data={"definition": {"event": "click", "within_days": 7}}, actor="system"
    )
    ids = _evaluate([purchase_body(external_id="t-4", customer_id="t-viewer")])
    assert (
        Evaluation.objects.get(purchase_id=ids["t-4"], campaign=by_segment).reason == "customer_not_eligible"
    )


def _queries_of_evaluation(size: int, prefix: str) -> int:
    results = purchases_ingest(bodies=[purchase_body(customer_id=f"{prefix}-{i}") for i in range(size)])
    with CaptureQueriesContext(connection) as queries:
        purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    # django-tenants sets the search path per cursor (ADR 0001): statements are what we count.
    return sum(1 for q in queries.captured_queries if not q["sql"].startswith("SET search_path"))


def test_targeting_costs_one_query_per_batch_not_per_purchase(brand_a):
    # Nothing eligible (minimum out of reach): no dispatches, only the evaluation's own statements.
    CampaignFactory(status="active", min_purchase_value=Decimal("100000"))
    _queries_of_evaluation(1, "warm")  # compiles and caches the campaign
    untargeted_1, untargeted_20 = _queries_of_evaluation(1, "u1"), _queries_of_evaluation(20, "u20")
    segment = segment_create(name="Gold", definition=GOLD, actor="system")
    CampaignFactory(
        status="active",
        min_purchase_value=Decimal("100000"),
        segment=segment,
        eligibility={"attr": "purchase.total", "op": "gt", "value": 1},
    )
    _queries_of_evaluation(1, "warm2")
    targeted_1, targeted_20 = _queries_of_evaluation(1, "t1"), _queries_of_evaluation(20, "t20")
    assert untargeted_1 == untargeted_20
    assert targeted_1 == targeted_20 == untargeted_1 + 1


def test_campaign_api_takes_segment_and_eligibility(crm_client, brand_a):
    segment = segment_create(name="API segment", definition=GOLD, actor="system")
    campaign = CampaignFactory()
    response = crm_client.patch(
        f"/api/v1/campaigns/{campaign.pk}/",
        data=json.dumps(
            {
                "segment": segment.pk,
                "eligibility": {"attr": "purchase.channel", "op": "eq", "value": "in_store"},
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["segment"] == segment.pk
    assert response.json()["eligibility"]["attr"] == "purchase.channel"
    assert response.json()["version"] == 2
    bad = crm_client.patch(
        f"/api/v1/campaigns/{campaign.pk}/",
        data=json.dumps({"eligibility": {"attr": "purchase.colour", "op": "eq", "value": 1}}),
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "unknown path 'purchase.colour'" in bad.json()["error"]["fields"]["eligibility"][0]
    # A targeted segment cannot be deleted.
    delete = crm_client.delete(f"/api/v1/segments/{segment.pk}/")
    assert delete.status_code == 409 and delete.json()["error"]["code"] == "segment_in_use"
    assert Segment.objects.filter(pk=segment.pk).exists()
    assert Campaign.objects.get(pk=campaign.pk).segment_id == segment.pk


def test_segment_definitions_are_validated(brand_a):
    try:
        segment_create(
            name="Bad", definition={"attr": "purchase.total", "op": "gt", "value": 1}, actor="system"
        )
    except ValidationFailed as error:
        assert "only in a campaign's eligibility rule" in error.message_dict["definition"][0]
    else:
        raise AssertionError("a purchase path in a segment must be refused")
