"""Budgets (SPEC §13): reservation in the evaluation, thresholds, commit/release, replay, periods."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.budgets import (
    budget_commit,
    budget_refund,
    budget_release,
    budget_reserve,
    budget_set,
    dispatch_ref,
    period_start,
)
from campaigns.models import Budget, BudgetLedger, Campaign, CampaignTransition
from core.exceptions import ConflictError, ValidationFailed
from core.models import AuditEvent
from dispatches.models import Dispatch
from dispatches.services import dispatch_replay
from purchases.models import Evaluation, Purchase
from purchases.services import purchases_evaluate
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.purchases.conftest import purchase_body


def ingest_many(client, n: int, *, start: datetime | None = None) -> list[Purchase]:
    start = start or timezone.now() - timedelta(hours=2)
    bodies = [purchase_body(purchased_at=(start + timedelta(seconds=i)).isoformat()) for i in range(n)]
    response = client.post(
        "/api/v1/purchases/batch/", data=json.dumps({"purchases": bodies}), content_type="application/json"
    )
    assert response.status_code == 202, response.json()
    return list(
        Purchase.objects.filter(external_id__in=[b["external_id"] for b in bodies]).order_by("purchased_at")
    )


@pytest.fixture
def live_partner(brand_a, httpserver):
    """A partner on pytest-httpserver (tests/campaigns/conftest.py's `partner` has no server)."""
    return PartnerFactory(
        slug="budget-partner",
        submission_url=httpserver.url_for("/submissions"),
        timeout_seconds=1,
        max_attempts=3,
    )


@pytest.fixture
def budgeted(live_partner):
    partner = live_partner

    def make(limit: str = "3", kind: str = "count", **kwargs) -> Campaign:
        campaign = CampaignFactory(status=Campaign.Status.ACTIVE, partner=partner, **kwargs)
        budget_set(campaign_id=campaign.pk, actor="user:ana", kind=kind, limit=Decimal(limit))
        return campaign

    return make


def used(campaign: Campaign) -> tuple[Decimal, Decimal]:
    budget = Budget.objects.get(campaign=campaign)
    return budget.committed, budget.reserved


def test_a_batch_reserves_what_fits_and_the_rest_is_budget_exhausted_in_purchase_order(
    ingest_client, budgeted, httpserver
):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    campaign = budgeted(limit="3")
    purchases = ingest_many(ingest_client, 5)

    outcome = purchases_evaluate(purchase_ids=[p.id for p in reversed(purchases)])

    assert (outcome.eligible, outcome.dispatches_created) == (3, 3)
    reasons = [Evaluation.objects.get(purchase=p, campaign=campaign).reason for p in purchases]
    assert reasons == [None, None, None, "budget_exhausted", "budget_exhausted"]
    exhausted = Evaluation.objects.get(purchase=purchases[4], campaign=campaign)
    assert exhausted.eligible is False and exhausted.eligible_value == Decimal("60.00")
    assert set(Dispatch.objects.filter(campaign=campaign).values_list("purchase_id", flat=True)) == {
        p.id for p in purchases[:3]
    }
    # The three were sent by the evaluation: committed, nothing reserved any more.
    assert used(campaign) == (Decimal(3), Decimal(0))
    ledger = BudgetLedger.objects.filter(budget__campaign=campaign)
    assert sorted(ledger.values_list("ref", "status")) == sorted(
        (dispatch_ref(purchase_id=p.id, campaign_id=campaign.id), "committed") for p in purchases[:3]
    )
    # 90 % crossed → paused by the system with the note; the pair that did not fit → completed.
    steps = list(
        CampaignTransition.objects.filter(campaign=campaign).values_list(
            "from_status", "to_status", "actor", "note"
        )
    )
    assert steps[-2:] == [
        ("active", "paused", "system", "budget_threshold"),
        ("paused", "completed", "system", "budget_exhausted"),
    ]
    assert AuditEvent.objects.filter(action="budget.threshold", object_id=str(campaign.id)).count() == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_spend_budget_counts_the_reward_value(ingest_client, budgeted, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    campaign = budgeted(limit="25.00", kind="spend")  # rewards of 10.00: two fit
    purchases = ingest_many(ingest_client, 3)

    purchases_evaluate(purchase_ids=[p.id for p in purchases])

    assert Dispatch.objects.filter(campaign=campaign).count() == 2
    assert used(campaign) == (Decimal("20.00"), Decimal(0))
    assert Evaluation.objects.get(purchase=purchases[2], campaign=campaign).reason == "budget_exhausted"


def test_threshold_pauses_before_the_budget_is_full(ingest_client, budgeted, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    campaign = budgeted(limit="10")
    purchases = ingest_many(ingest_client, 9)

    purchases_evaluate(purchase_ids=[p.id for p in purchases])

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert used(campaign) == (Decimal(9), Decimal(0))
    # A paused campaign evaluates as campaign_not_active: the budget does not move.
    more = ingest_many(ingest_client, 1, start=timezone.now() - timedelta(minutes=5))
    purchases_evaluate(purchase_ids=[more[0].id])
    assert Evaluation.objects.get(purchase=more[0], campaign=campaign).reason == "campaign_not_active"
    assert used(campaign) == (Decimal(9), Decimal(0))


def test_unbudgeted_campaigns_are_untouched(ingest_client, live_partner, httpserver):
    partner = live_partner
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE, partner=partner)
    purchases = ingest_many(ingest_client, 4)
    purchases_evaluate(purchase_ids=[p.id for p in purchases])
    assert Dispatch.objects.filter(campaign=campaign).count() == 4


def test_dead_dispatch_releases_and_replay_reserves_again(ingest_client, budgeted, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"no": True}, status=400)
    campaign = budgeted(limit="2")
    purchases = ingest_many(ingest_client, 1)
    purchases_evaluate(purchase_ids=[purchases[0].id])
    dispatch = Dispatch.objects.get(campaign=campaign)
    assert dispatch.status == Dispatch.Status.DEAD  # a 400 is permanent
    assert used(campaign) == (Decimal(0), Decimal(0))
    ref = dispatch_ref(purchase_id=purchases[0].id, campaign_id=campaign.id)
    assert list(BudgetLedger.objects.filter(ref=ref).values_list("status", flat=True)) == ["released"]

    dispatch_replay(dispatch_id=dispatch.id, actor="user:ana")

    assert used(campaign) == (Decimal(0), Decimal(1))
    assert list(BudgetLedger.objects.filter(ref=ref).values_list("status", flat=True)) == [
        "released",
        "reserved",
    ]


def test_replay_after_release_is_409_when_the_budget_is_used_up(budgeted):
    campaign = budgeted(limit="1")
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal(1), ref="dispatch:1:x")
    assert budget_release(ref="dispatch:1:x")
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal(1), ref="redemption:7")
    assert not budget_reserve(campaign_id=campaign.id, amount=Decimal(1), ref="dispatch:1:x")
    assert used(campaign) == (Decimal(0), Decimal(1))


def test_reserve_commit_release_refund_by_ref_for_redemptions(budgeted):
    campaign = budgeted(limit="100.00", kind="spend")
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal("30.00"), ref="redemption:1")
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal("30.00"), ref="redemption:1")  # idempotent
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal("50.00"), ref="redemption:2")
    assert used(campaign) == (Decimal(0), Decimal("80.00"))
    assert not budget_reserve(campaign_id=campaign.id, amount=Decimal("30.00"), ref="redemption:3")
    assert budget_commit(ref="redemption:1")
    assert not budget_commit(ref="redemption:1")  # settled once
    assert budget_release(ref="redemption:2")
    assert used(campaign) == (Decimal("30.00"), Decimal(0))
    assert budget_refund(ref="redemption:1")
    assert used(campaign) == (Decimal(0), Decimal(0))
    assert not budget_refund(ref="redemption:1")


def test_a_campaign_without_budget_always_fits(brand_a):
    assert budget_reserve(campaign_id=10**9, amount=Decimal(1), ref="redemption:x") is True


def test_budget_set_validates_and_refuses_a_limit_below_what_is_used(budgeted, live_partner):
    partner = live_partner
    campaign = budgeted(limit="5")
    budget_reserve(campaign_id=campaign.id, amount=Decimal(3), ref="r:1")
    with pytest.raises(ConflictError):
        budget_set(campaign_id=campaign.id, actor="user:ana", kind="count", limit=Decimal(2))
    with pytest.raises(ValidationFailed) as error:
        budget_set(
            campaign_id=campaign.id, actor="user:ana", kind="count", limit=Decimal("2.5"), pause_at_percent=0
        )
    assert set(error.value.fields) >= {"limit", "pause_at_percent"}
    odd = CampaignFactory(
        partner=partner, reward={"type": "special_offer", "value": "free coffee", "description": ""}
    )
    with pytest.raises(ValidationFailed):
        budget_set(campaign_id=odd.id, actor="user:ana", kind="spend", limit=Decimal(10))


def test_periods_start_at_local_midnight_across_a_dst_change():
    tz = "Europe/Lisbon"  # DST ends 2026-10-25 02:00 local (01:00 UTC)
    before = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 23:30 local, summer time (UTC+1)
    after = datetime(2026, 10, 25, 12, 0, tzinfo=UTC)  # noon local, winter time (UTC+0)
    assert period_start(period="day", now=before, tz=tz) == datetime(2026, 10, 23, 23, 0, tzinfo=UTC)
    # Midnight of the 25th is still summer time (the change is at 02:00): 23:00 UTC on the 24th.
    assert period_start(period="day", now=after, tz=tz) == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    # Midnight of the 26th is winter time: 00:00 UTC; that day is 25 hours long.
    assert period_start(period="day", now=datetime(2026, 10, 26, 0, 30, tzinfo=UTC), tz=tz) == datetime(
        2026, 10, 26, 0, 0, tzinfo=UTC
    )
    assert period_start(period="week", now=after, tz=tz) == datetime(2026, 10, 18, 23, 0, tzinfo=UTC)
    assert period_start(period="month", now=after, tz=tz) == datetime(2026, 9, 30, 23, 0, tzinfo=UTC)


def test_day_budget_rolls_over_at_the_brands_midnight_across_dst(budgeted, brand_a):
    brand_a.timezone = "Europe/Lisbon"
    connection.tenant.timezone = "Europe/Lisbon"
    campaign = budgeted(limit="2")
    Budget.objects.filter(campaign=campaign).update(period="day")
    late = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 23:30 local on the 24th (summer time)
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal(1), ref="a", now=late)
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal(1), ref="b", now=late)
    budget_commit(ref="a", now=late)
    budget_commit(ref="b", now=late)
    assert not budget_reserve(
        campaign_id=campaign.id, amount=Decimal(1), ref="c", now=late + timedelta(minutes=20)
    )
    Campaign.objects.filter(pk=campaign.pk).update(status="active")
    # 00:10 UTC on the 25th is 01:10 local, still before the change: a new day.
    next_day = datetime(2026, 10, 25, 0, 10, tzinfo=UTC)
    assert budget_reserve(campaign_id=campaign.id, amount=Decimal(1), ref="d", now=next_day)
    budget = Budget.objects.get(campaign=campaign)
    assert (budget.committed, budget.reserved) == (Decimal(0), Decimal(1))
    assert budget.period_start == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    # 23:30 UTC on the 25th is 23:30 local (winter time): the same day still.
    assert budget_reserve(
        campaign_id=campaign.id, amount=Decimal(1), ref="e", now=datetime(2026, 10, 25, 23, 30, tzinfo=UTC)
    )
    assert not budget_reserve(
        campaign_id=campaign.id, amount=Decimal(1), ref="f", now=datetime(2026, 10, 25, 23, 40, tzinfo=UTC)
    )
    assert (
        budget_reserve(
            campaign_id=campaign.id, amount=Decimal(1), ref="g", now=datetime(2026, 10, 26, 0, 5, tzinfo=UTC)
        )
        is False
    )
    # reserved ones carry over: d and e still open (2 of 2) on the 26th.
    budget_release(ref="d", now=datetime(2026, 10, 26, 0, 6, tzinfo=UTC))
    Campaign.objects.filter(pk=campaign.pk).update(status="active")
    assert budget_reserve(
        campaign_id=campaign.id, amount=Decimal(1), ref="h", now=datetime(2026, 10, 26, 0, 7, tzinfo=UTC)
    )


def test_crossing_the_threshold_emits_budget_threshold(ingest_client, budgeted, httpserver):
    from core.actors import SYSTEM_ACTOR
    from outbox import events
    from outbox.models import DomainEvent
    from webhooks.services import webhook_endpoint_create

    events.subscriptions_changed()
    webhook_endpoint_create(
        actor=SYSTEM_ACTOR, url=httpserver.url_for("/hooks"), event_types=["budget.threshold"]
    )
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    campaign = budgeted(limit="10")
    try:
        purchases_evaluate(purchase_ids=[p.id for p in ingest_many(ingest_client, 9)])
        [event] = DomainEvent.objects.filter(event_type="budget.threshold")
    finally:
        events.subscriptions_changed()
    assert event.data["campaign_id"] == campaign.pk
    assert (Decimal(event.data["used"]), Decimal(event.data["limit"])) == (Decimal(9), Decimal(10))
