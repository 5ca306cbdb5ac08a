"""Redemption discounts count against the campaign's spend budget (SPEC §12/§13), and in its analytics cost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import CampaignHourlyFigures
from analytics.services import analytics_refresh, hour_floor
from campaigns.budgets import budget_set
from campaigns.models import Budget, BudgetLedger
from promotions.models import PromoCode, Redemption
from promotions.services import redemptions_expire
from tests.promotions.conftest import new_key, redemption_body
from tests.promotions.factories import PromoCodeFactory

pytestmark = pytest.mark.django_db


def redeem(client, body):
    return client.post("/api/v1/redemptions/", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())


def budgeted_code(limit: str, kind: str = "spend", **fields) -> PromoCode:
    code = PromoCodeFactory(max_redemptions=None, **fields)
    budget_set(campaign_id=code.campaign_id, actor="system", kind=kind, limit=Decimal(limit))
    return code


def budget_of(code: PromoCode) -> tuple[Decimal, Decimal]:
    budget = Budget.objects.get(campaign_id=code.campaign_id)
    return budget.committed, budget.reserved


def ledger(redemption_id: int) -> list[tuple[str, Decimal]]:
    return list(
        BudgetLedger.objects.filter(ref=f"redemption:{redemption_id}").values_list("status", "amount")
    )


def test_a_reservation_holds_its_discount_and_a_discount_that_does_not_fit_is_409(ingest_client):
    code = budgeted_code("10")
    first = redeem(ingest_client, redemption_body(code.code))
    assert first.status_code == 201, first.content
    assert budget_of(code) == (Decimal(0), Decimal("6.00"))
    assert ledger(first.json()["id"]) == [("reserved", Decimal("6.00"))]
    # 6 + 6 > 10: validate says so (advice) and the reservation refuses it, keeping nothing.
    validated = ingest_client.post(
        "/api/v1/codes/validate/",
        {"code": code.code, "customer_id": "c-2", "order": redemption_body(code.code)["order"]},
        format="json",
    ).json()
    assert validated == {"valid": False, "reason": "budget_exhausted", "discount": "0.00"}
    refused = redeem(ingest_client, redemption_body(code.code, customer_id="c-2", mode="commit"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "budget_exhausted"
    code.refresh_from_db()
    assert (code.redeemed_count, code.reserved_count) == (0, 1)
    assert Redemption.objects.filter(code=code).count() == 1
    assert budget_of(code) == (Decimal(0), Decimal("6.00"))


def test_commit_spends_and_rollback_refunds(ingest_client):
    code = budgeted_code("100")
    body = redeem(ingest_client, redemption_body(code.code)).json()
    assert ingest_client.post(f"/api/v1/redemptions/{body['id']}/commit/").status_code == 200
    assert budget_of(code) == (Decimal("6.00"), Decimal(0))
    assert ledger(body["id"]) == [("committed", Decimal("6.00"))]
    rolled = ingest_client.post(
        f"/api/v1/redemptions/{body['id']}/rollback/", {"reason": "refund"}, format="json"
    )
    assert rolled.status_code == 200
    assert budget_of(code) == (Decimal(0), Decimal(0))
    assert ledger(body["id"]) == [("released", Decimal("6.00"))]


def test_commit_at_once_spends_at_once(ingest_client):
    code = budgeted_code("100")
    body = redeem(ingest_client, redemption_body(code.code, mode="commit")).json()
    assert budget_of(code) == (Decimal("6.00"), Decimal(0))
    assert ledger(body["id"]) == [("committed", Decimal("6.00"))]


def test_rollback_and_expiry_of_reservations_release(ingest_client):
    code = budgeted_code("100")
    rolled = redeem(ingest_client, redemption_body(code.code)).json()
    expiring = redeem(ingest_client, redemption_body(code.code, customer_id="c-2", ttl_seconds=1)).json()
    assert budget_of(code) == (Decimal(0), Decimal("12.00"))
    ingest_client.post(f"/api/v1/redemptions/{rolled['id']}/rollback/", {}, format="json")
    assert budget_of(code) == (Decimal(0), Decimal("6.00"))
    assert redemptions_expire(now=timezone.now() + timedelta(seconds=5)) == 1
    assert budget_of(code) == (Decimal(0), Decimal(0))
    assert ledger(expiring["id"]) == [("released", Decimal("6.00"))]


def test_a_count_budget_counts_rewards_not_discounts(ingest_client):
    code = budgeted_code("1", kind="count")
    for customer in ("c-1", "c-2"):
        assert redeem(ingest_client, redemption_body(code.code, customer_id=customer)).status_code == 201
    assert budget_of(code) == (Decimal(0), Decimal(0))
    assert not BudgetLedger.objects.filter(ref__startswith="redemption:").exists()


def test_committed_discounts_are_campaign_cost_in_the_analytics(ingest_client):
    code = PromoCodeFactory(max_redemptions=None)
    committed_at = hour_floor(timezone.now() - timedelta(hours=2)) + timedelta(minutes=5)
    ids = [
        redeem(ingest_client, redemption_body(code.code, customer_id=f"c-{n}", mode=mode)).json()["id"]
        for n, mode in enumerate(["commit", "commit", "reserve", "commit"])
    ]
    ingest_client.post(f"/api/v1/redemptions/{ids[3]}/rollback/", {}, format="json")
    Redemption.objects.filter(pk__in=ids).update(committed_at=committed_at)
    analytics_refresh(since=committed_at - timedelta(days=1))
    [row] = CampaignHourlyFigures.objects.filter(campaign_id=code.campaign_id)
    # Only the two still committed count: the reservation is not spent, the rolled back one gave it back.
    assert (row.hour, row.variant, row.cost, row.impressions) == (
        hour_floor(committed_at),
        "",
        Decimal("12.00"),
        0,
    )
