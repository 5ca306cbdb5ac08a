"""SPEC §13 over HTTP: budget endpoints, approval with four eyes, the cancel note, bulk actions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from campaigns.budgets import budget_reserve, budget_set
from campaigns.models import Campaign, CampaignTransition
from core.models import AuditEvent
from tests.campaigns.factories import CampaignFactory


@pytest.fixture
def threshold(brand_a):
    brand_a.approval_threshold = Decimal("1000")
    brand_a.save(update_fields=["approval_threshold"])
    connection.tenant.approval_threshold = Decimal("1000")
    yield brand_a
    brand_a.approval_threshold = None
    brand_a.save(update_fields=["approval_threshold"])
    connection.tenant.approval_threshold = None


def test_budget_put_get_and_ledger(crm_client, make_campaign):
    campaign = make_campaign(status="active")
    url = f"/api/v1/campaigns/{campaign.pk}/budget/"
    assert crm_client.get(url).status_code == 404
    response = crm_client.put(url, {"kind": "spend", "limit": "500.00", "period": "month"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["kind"], Decimal(body["limit"]), body["period"], body["pause_at_percent"]) == (
        "spend",
        Decimal(500),
        "month",
        90,
    )
    budget_reserve(campaign_id=campaign.pk, amount=Decimal("10.00"), ref="redemption:1")
    assert Decimal(crm_client.get(url).json()["reserved"]) == Decimal(10)
    ledger = crm_client.get(url + "ledger/").json()
    assert [(row["ref"], row["status"]) for row in ledger["results"]] == [("redemption:1", "reserved")]
    bad = crm_client.put(url, {"kind": "spend", "limit": "-1", "pause_at_percent": 0}, format="json")
    assert bad.status_code == 400 and {"limit", "pause_at_percent"} <= set(bad.json()["error"]["fields"])
    below = crm_client.put(url, {"kind": "spend", "limit": "5"}, format="json")
    assert below.status_code == 409 and below.json()["error"]["code"] == "budget_below_used"
    assert AuditEvent.objects.filter(action="budget.updated", object_id=str(campaign.pk)).count() == 1


def test_budget_of_another_brand_is_404(make_api_client, make_campaign):
    campaign = make_campaign(status="active")
    budget_set(campaign_id=campaign.pk, actor="user:ana", kind="count", limit=Decimal(5))
    other = make_api_client("brand_b", "crm")
    assert other.get(f"/api/v1/campaigns/{campaign.pk}/budget/").status_code == 404


def test_activation_above_the_threshold_waits_for_a_second_key(threshold, make_api_client, make_campaign):
    first, second = make_api_client("brand_a", "crm"), make_api_client("brand_a", "crm")
    campaign = make_campaign()
    budget_set(campaign_id=campaign.pk, actor="user:ana", kind="spend", limit=Decimal("5000"))
    response = first.post(f"/api/v1/campaigns/{campaign.pk}/activate/", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "pending_approval"
    same = first.post(f"/api/v1/campaigns/{campaign.pk}/approve/", {}, format="json")
    assert same.status_code == 403 and same.json()["error"]["code"] == "approver_is_requester"
    assert Campaign.objects.get(pk=campaign.pk).status == "pending_approval"
    approved = second.post(f"/api/v1/campaigns/{campaign.pk}/approve/", {"note": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    steps = list(CampaignTransition.objects.filter(campaign=campaign).values_list("from_status", "to_status"))
    assert steps[-2:] == [("draft", "pending_approval"), ("pending_approval", "active")]
    actions = set(AuditEvent.objects.filter(object_id=str(campaign.pk)).values_list("action", flat=True))
    assert {"campaign.approval_requested", "campaign.approved"} <= actions


def test_count_budget_compares_its_most_possible_spend(threshold, crm_client, make_campaign):
    campaign = make_campaign()  # rewards of 10.00: 150 rewards can spend 1,500 > 1,000
    budget_set(campaign_id=campaign.pk, actor="user:ana", kind="count", limit=Decimal(150))
    assert (
        crm_client.post(f"/api/v1/campaigns/{campaign.pk}/activate/").json()["status"] == "pending_approval"
    )
    small = make_campaign()
    budget_set(campaign_id=small.pk, actor="user:ana", kind="count", limit=Decimal(50))
    assert crm_client.post(f"/api/v1/campaigns/{small.pk}/activate/").json()["status"] == "active"


def test_below_the_threshold_or_without_one_activates_directly(crm_client, make_campaign):
    campaign = make_campaign()
    budget_set(campaign_id=campaign.pk, actor="user:ana", kind="spend", limit=Decimal("99999"))
    assert crm_client.post(f"/api/v1/campaigns/{campaign.pk}/activate/").json()["status"] == "active"


def test_pending_approval_can_be_cancelled_with_a_note_but_not_paused(threshold, crm_client, make_campaign):
    campaign = make_campaign(status="pending_approval", approval_requested_by="user#1")
    assert crm_client.post(f"/api/v1/campaigns/{campaign.pk}/pause/").status_code == 409
    assert crm_client.post(f"/api/v1/campaigns/{campaign.pk}/resume/").status_code == 409
    assert crm_client.post(f"/api/v1/campaigns/{campaign.pk}/activate/").status_code == 409
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/cancel/", {"note": "too big"}, format="json")
    assert response.json()["status"] == "cancelled"


@pytest.mark.parametrize("status", ["draft", "active", "paused"])
def test_cancel_without_a_note_is_400_and_changes_nothing(crm_client, make_campaign, status):
    campaign = make_campaign(status=status)
    for body in ({}, {"note": "   "}):
        response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/cancel/", body, format="json")
        assert response.status_code == 400
        assert "note" in response.json()["error"]["fields"]
    assert Campaign.objects.get(pk=campaign.pk).status == status


def test_approve_of_a_campaign_not_pending_is_409(crm_client, make_campaign):
    campaign = make_campaign(status="draft")
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/approve/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_transition"


def test_bulk_results_in_request_order_each_its_own_transaction(crm_client, make_campaign):
    active, paused, draft = make_campaign(status="active"), make_campaign(status="paused"), make_campaign()
    ids = [paused.pk, 999999, active.pk, draft.pk, active.pk]
    response = crm_client.post("/api/v1/campaigns/bulk/", {"action": "pause", "ids": ids}, format="json")
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["id"] for r in results] == ids
    assert [r["status"] for r in results] == ["conflict", "not_found", "ok", "conflict", "conflict"]
    assert all(r.get("error") for r in results if r["status"] != "ok")
    assert Campaign.objects.get(pk=active.pk).status == "paused"
    assert AuditEvent.objects.filter(action="campaign.paused", object_id=str(active.pk)).count() == 1


def test_bulk_dry_run_changes_nothing(crm_client, make_campaign):
    campaigns = [make_campaign(status="active") for _ in range(3)]
    ids = [c.pk for c in campaigns]
    response = crm_client.post(
        "/api/v1/campaigns/bulk/", {"action": "pause", "ids": ids, "dry_run": True}, format="json"
    )
    assert [r["status"] for r in response.json()["results"]] == ["ok"] * 3
    assert set(Campaign.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"active"}


def test_bulk_delete_and_cancel_with_note(crm_client, make_campaign):
    draft, active = make_campaign(), make_campaign(status="active")
    deleted = crm_client.post(
        "/api/v1/campaigns/bulk/", {"action": "delete", "ids": [draft.pk, active.pk]}, format="json"
    )
    assert [r["status"] for r in deleted.json()["results"]] == ["ok", "conflict"]
    assert not Campaign.objects.filter(pk=draft.pk).exists()
    no_note = crm_client.post(
        "/api/v1/campaigns/bulk/", {"action": "cancel", "ids": [active.pk]}, format="json"
    )
    assert no_note.json()["results"][0]["status"] == "conflict"
    done = crm_client.post(
        "/api/v1/campaigns/bulk/", {"action": "cancel", "ids": [active.pk], "note": "end"}, format="json"
    )
    assert done.json()["results"][0]["status"] == "ok"


def test_bulk_limits_and_bad_input(crm_client):
    too_many = crm_client.post(
        "/api/v1/campaigns/bulk/", {"action": "pause", "ids": list(range(1, 1002))}, format="json"
    )
    assert too_many.status_code == 413
    for body in (
        {"action": "explode", "ids": [1]},
        {"action": "pause", "ids": []},
        {"action": "pause", "ids": ["x"]},
        [1],
    ):
        assert crm_client.post("/api/v1/campaigns/bulk/", body, format="json").status_code == 400


def test_bulk_activate_of_1000_ids(crm_client, brand_a):
    campaigns = CampaignFactory.create_batch(5)
    ids = [c.pk for c in campaigns] + list(range(10**8, 10**8 + 995))
    response = crm_client.post("/api/v1/campaigns/bulk/", {"action": "activate", "ids": ids}, format="json")
    results = response.json()["results"]
    assert len(results) == 1000 and [r["status"] for r in results[:5]] == ["ok"] * 5
    assert {r["status"] for r in results[5:]} == {"not_found"}
    assert set(Campaign.objects.filter(pk__in=ids[:5]).values_list("status", flat=True)) == {"active"}
