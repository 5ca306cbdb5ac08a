"""Refunds (SPEC §12, ADR 0025): `POST /purchases/{external_id}/refund/` against a real local partner.

A purchase of 60.00 EUR (2 × SKU-A at 20.00, 1 × SKU-B at 20.00) is evaluated and its reward sent to
the partner (pytest-httpserver); then it is refunded, whole or in part. The retraction is a signed
Standard Webhooks request that the `standardwebhooks` library verifies with the partner's secret,
retried on 5xx like a dispatch.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from campaigns.budgets import budget_set
from campaigns.models import Budget, BudgetLedger, Campaign, CustomerRewardCount
from core import task_names
from core.models import AuditEvent
from dispatches.models import Dispatch, Retraction, RetractionAttempt
from dispatches.retractions import CANCELLED_ERROR, retraction_due_ids, retractions_send, retractions_send_due
from dispatches.services import retraction_replay
from outbox.models import OutboxMessage
from purchases.models import Evaluation, Purchase, PurchaseRefund
from purchases.services import purchases_evaluate
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.purchases.conftest import purchase_body

SUBMISSIONS = "/submissions"


@pytest.fixture
def partner(brand_a, httpserver):
    return PartnerFactory(slug="refund-partner", submission_url=httpserver.url_for(SUBMISSIONS))


@pytest.fixture
def campaign(partner):
    return CampaignFactory(status=Campaign.Status.ACTIVE, partner=partner, min_purchase_value=Decimal("50"))


def ingest(client, **overrides) -> Purchase:
    body = purchase_body(**overrides)
    response = client.post("/api/v1/purchases/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.json()
    return Purchase.objects.get(external_id=body["external_id"])


def sent_purchase(client, httpserver, **overrides) -> Purchase:
    """A purchase evaluated and its reward sent (the partner answers 200 to it)."""
    httpserver.expect_oneshot_request(SUBMISSIONS, method="POST").respond_with_json({"ok": True})
    purchase = ingest(client, **overrides)
    outcome = purchases_evaluate(purchase_ids=[purchase.pk])
    assert outcome.dispatch.sent == outcome.eligible
    return purchase


def refund(client, external_id: str, body=None, **headers):
    return client.post(
        f"/api/v1/purchases/{external_id}/refund/",
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )


def of_campaign(answer: dict, campaign) -> dict:
    (entry,) = [e for e in answer["evaluations"] if e["campaign_id"] == campaign.pk]
    return entry


def test_a_partial_refund_below_the_minimum_retracts_with_a_signed_message(
    ingest_client, httpserver, partner, campaign
):
    purchase = sent_purchase(ingest_client, httpserver)
    dispatch = Dispatch.objects.get(purchase=purchase, campaign=campaign)

    response = refund(ingest_client, purchase.external_id, {"items": [{"sku": "SKU-A", "quantity": 1}]})

    assert response.status_code == 200, response.json()
    answer = response.json()
    assert answer["complete"] is False
    assert answer["refunded_items"] == [
        {"sku": "SKU-A", "category": "toys", "quantity": 1, "unit_price": "20.00"}
    ]
    assert [(i["sku"], i["quantity"]) for i in answer["remaining_items"]] == [("SKU-A", 1), ("SKU-B", 1)]
    entry = of_campaign(answer, campaign)
    assert entry | {"retraction_id": None} == {
        "campaign_id": campaign.pk,
        "campaign_version": campaign.version,
        "eligible": False,
        "eligible_value": "40.00",
        "reason": "below_minimum",
        "was_eligible": True,
        "dispatch": "retracted",
        "retraction_id": None,
    }
    retraction = Retraction.objects.get(pk=entry["retraction_id"])
    assert (retraction.dispatch_id, retraction.status) == (dispatch.pk, "pending")
    # Sent after commit through the outbox, like every first send of the pipeline.
    assert OutboxMessage.objects.filter(
        task_name=task_names.SEND_RETRACTIONS, args=[[str(retraction.pk)]]
    ).exists()
    evaluation = Evaluation.objects.get(purchase=purchase, campaign=campaign)
    assert (evaluation.eligible, evaluation.reason, evaluation.eligible_value) == (
        False,
        "below_minimum",
        Decimal("40.00"),
    )
    # The reward already reached the partner: its dispatch stays `sent` (that is history).
    dispatch.refresh_from_db()
    assert dispatch.status == Dispatch.Status.SENT

    httpserver.expect_oneshot_request(SUBMISSIONS, method="POST").respond_with_json({"ok": True})
    result = retractions_send(retraction_ids=[retraction.pk])

    assert result.sent == 1
    request, _ = httpserver.log[-1]
    body = request.get_data()
    payload = Webhook(partner.secret).verify(body, dict(request.headers))
    assert request.headers["webhook-id"] == str(retraction.pk)
    assert request.headers["Idempotency-Key"] == str(retraction.pk)
    assert payload == {
        "type": "purchase.retracted",
        "retraction_id": str(retraction.pk),
        "dispatch_id": str(dispatch.pk),
        "tenant": "brand_a",
        "campaign": {"id": campaign.pk, "name": campaign.name, "version": campaign.version},
        "purchase": {
            "external_id": purchase.external_id,
            "customer_id": purchase.customer_id,
            "channel": purchase.channel,
            "purchased_at": purchase.purchased_at.isoformat().replace("+00:00", "Z"),
            "currency": "EUR",
            "total": "60.00",
            "eligible_value": "40.00",
        },
        "reason": "below_minimum",
        "refunded_at": payload["refunded_at"],
    }
    with pytest.raises(Exception, match="signature"):
        Webhook(partner.secret).verify(body + b" ", dict(request.headers))
    retraction.refresh_from_db()
    assert (retraction.status, retraction.attempts, retraction.last_status_code) == ("sent", 1, 200)
    [attempt] = RetractionAttempt.objects.filter(retraction=retraction)
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "sent", 200)
    event = AuditEvent.objects.get(action="purchase.refunded", object_id=str(purchase.pk))
    assert event.actor.startswith("api-key:")
    assert event.changes["withdrawn_campaigns"]["after"] == [campaign.pk]


def test_a_partial_refund_still_above_the_minimum_does_not_retract(ingest_client, httpserver, partner):
    campaign = CampaignFactory(
        status=Campaign.Status.ACTIVE, partner=partner, min_purchase_value=Decimal("30")
    )
    purchase = sent_purchase(ingest_client, httpserver)

    response = refund(ingest_client, purchase.external_id, {"items": [{"sku": "SKU-B", "quantity": 1}]})

    assert response.status_code == 200, response.json()
    entry = of_campaign(response.json(), campaign)
    assert (entry["eligible"], entry["eligible_value"], entry["reason"], entry["dispatch"]) == (
        True,
        "40.00",
        None,
        None,
    )
    assert not Retraction.objects.exists()
    assert not OutboxMessage.objects.filter(task_name=task_names.SEND_RETRACTIONS).exists()
    assert Evaluation.objects.get(purchase=purchase, campaign=campaign).eligible_value == Decimal("40.00")
    assert len(httpserver.log) == 1  # only the reward itself


def test_the_retraction_is_retried_on_5xx_then_sent(ingest_client, httpserver, partner, campaign):
    purchase = sent_purchase(ingest_client, httpserver)
    answer = refund(ingest_client, purchase.external_id).json()
    retraction_id = of_campaign(answer, campaign)["retraction_id"]
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_data("upstream exploded", status=503)
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_json({"ok": True})

    first = retractions_send(retraction_ids=[retraction_id])

    assert (first.sent, first.retrying) == (0, 1)
    retraction = Retraction.objects.get(pk=retraction_id)
    assert retraction.status == "retrying" and retraction.next_attempt_at > timezone.now()
    assert "HTTP 503" in retraction.last_error
    assert retraction_due_ids() == []  # not due before its back-off
    Retraction.objects.filter(pk=retraction_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    second = retractions_send_due()

    assert second.sent == 1
    retraction.refresh_from_db()
    assert (retraction.status, retraction.attempts) == ("sent", 2)
    outcomes = list(
        RetractionAttempt.objects.filter(retraction=retraction).values_list(
            "number", "outcome", "status_code"
        )
    )
    assert outcomes == [(1, "retry", 503), (2, "sent", 200)]
    # Both attempts carried the same id, hence the same Idempotency-Key, each freshly signed.
    (first_request, _), (second_request, _) = httpserver.log[-2:]
    assert first_request.headers["webhook-id"] == second_request.headers["webhook-id"] == str(retraction_id)
    Webhook(partner.secret).verify(second_request.get_data(), dict(second_request.headers))


def test_a_retraction_the_partner_refuses_is_dead_and_can_be_replayed(ingest_client, httpserver, campaign):
    purchase = sent_purchase(ingest_client, httpserver)
    retraction_id = of_campaign(refund(ingest_client, purchase.external_id).json(), campaign)["retraction_id"]
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_data("no such reward", status=422)

    assert retractions_send(retraction_ids=[retraction_id]).dead == 1
    assert Retraction.objects.get(pk=retraction_id).status == "dead"

    replayed = retraction_replay(retraction_id=retraction_id, actor="user:ana")

    assert (replayed.status, replayed.attempt_base) == ("pending", 1)
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_json({"ok": True})
    assert retractions_send(retraction_ids=[retraction_id]).sent == 1


def test_the_retraction_of_an_exhausted_partner_is_dead_after_max_attempts(
    ingest_client, httpserver, partner, campaign
):
    partner.max_attempts = 2
    partner.save()
    purchase = sent_purchase(ingest_client, httpserver)
    retraction_id = of_campaign(refund(ingest_client, purchase.external_id).json(), campaign)["retraction_id"]
    httpserver.expect_request(SUBMISSIONS).respond_with_data("down", status=500)

    retractions_send(retraction_ids=[retraction_id])
    Retraction.objects.filter(pk=retraction_id).update(next_attempt_at=timezone.now())
    result = retractions_send(retraction_ids=[retraction_id])

    assert result.dead == 1
    retraction = Retraction.objects.get(pk=retraction_id)
    assert retraction.status == "dead" and "max attempts (2)" in retraction.last_error


def test_an_unsent_dispatch_is_cancelled_and_its_budget_reservation_released(
    ingest_client, partner, campaign
):
    budget_set(campaign_id=campaign.pk, actor="user:ana", kind="count", limit=Decimal(10))
    partner.is_active = False  # the dispatch is created pending, unclaimed: not sent yet
    partner.save()
    purchase = ingest(ingest_client)
    purchases_evaluate(purchase_ids=[purchase.pk])
    assert Budget.objects.get(campaign=campaign).reserved == 1

    answer = refund(ingest_client, purchase.external_id).json()

    entry = of_campaign(answer, campaign)
    assert (entry["reason"], entry["dispatch"], entry["retraction_id"]) == (
        "no_eligible_items",
        "cancelled",
        None,
    )
    assert answer["complete"] is True and answer["remaining_items"] == []
    dispatch = Dispatch.objects.get(purchase=purchase)
    assert (dispatch.status, dispatch.last_error) == ("dead", CANCELLED_ERROR)
    budget = Budget.objects.get(campaign=campaign)
    assert (budget.reserved, budget.committed) == (0, 0)
    assert list(BudgetLedger.objects.filter(budget=budget).values_list("status", flat=True)) == ["released"]
    assert not Retraction.objects.exists()


def test_a_dispatch_in_flight_is_fenced_off_and_retracted_as_well(ingest_client, partner, campaign):
    purchase = ingest(ingest_client)
    partner.is_active = False
    partner.save()
    purchases_evaluate(purchase_ids=[purchase.pk])
    # A sender holds the lease: its attempt may be reaching the partner right now.
    Dispatch.objects.filter(purchase=purchase).update(
        claimed_until=timezone.now() + timedelta(minutes=1),
        claim_token="00000000-0000-0000-0000-000000000001",
    )

    entry = of_campaign(refund(ingest_client, purchase.external_id).json(), campaign)

    assert entry["dispatch"] == "cancelled" and entry["retraction_id"]
    dispatch = Dispatch.objects.get(purchase=purchase)
    assert (dispatch.status, dispatch.claim_token) == ("dead", None)


def test_the_committed_budget_of_a_sent_reward_is_refunded(ingest_client, httpserver, campaign):
    budget_set(campaign_id=campaign.pk, actor="user:ana", kind="count", limit=Decimal(10))
    purchase = sent_purchase(ingest_client, httpserver)
    assert Budget.objects.get(campaign=campaign).committed == 1

    refund(ingest_client, purchase.external_id)

    budget = Budget.objects.get(campaign=campaign)
    assert (budget.committed, budget.reserved) == (0, 0)
    assert BudgetLedger.objects.get(budget=budget).status == "released"


def test_a_refund_gives_the_customer_reward_back(ingest_client, httpserver, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(max_rewards_per_customer=1, version=campaign.version + 1)
    first = sent_purchase(ingest_client, httpserver)
    second = ingest(ingest_client)
    purchases_evaluate(purchase_ids=[second.pk])
    assert Evaluation.objects.get(purchase=second, campaign=campaign).reason == "customer_limit_reached"

    refund(ingest_client, first.external_id)

    assert CustomerRewardCount.objects.get(campaign=campaign, customer_id="cust-1").rewards == 0
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_json({"ok": True})
    third = ingest(ingest_client)
    purchases_evaluate(purchase_ids=[third.pk])
    assert Evaluation.objects.get(purchase=third, campaign=campaign).eligible is True


def test_an_ineligible_pair_stays_as_it_was(ingest_client, httpserver, partner, campaign):
    big = CampaignFactory(status=Campaign.Status.ACTIVE, partner=partner, min_purchase_value=Decimal("500"))
    purchase = sent_purchase(ingest_client, httpserver)

    entry = of_campaign(
        refund(ingest_client, purchase.external_id, {"items": [{"sku": "SKU-B", "quantity": 1}]}).json(), big
    )

    assert entry == {
        "campaign_id": big.pk,
        "campaign_version": big.version,
        "eligible": False,
        "eligible_value": "60.00",
        "reason": "below_minimum",
        "was_eligible": False,
        "dispatch": None,
        "retraction_id": None,
    }


def test_refunding_what_is_left_twice_is_a_conflict_and_changes_nothing(ingest_client, httpserver, campaign):
    purchase = sent_purchase(ingest_client, httpserver)
    assert (
        refund(ingest_client, purchase.external_id, {"items": [{"sku": "SKU-A", "quantity": 2}]}).status_code
        == 200
    )

    again = refund(ingest_client, purchase.external_id, {"items": [{"sku": "SKU-A", "quantity": 1}]})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_refunded"
    assert again.json()["error"]["fields"]["items"][0]["quantity"]
    # What is left can still be refunded, then nothing is left.
    assert refund(ingest_client, purchase.external_id).json()["complete"] is True
    whole_again = refund(ingest_client, purchase.external_id)
    assert whole_again.status_code == 409 and whole_again.json()["error"]["code"] == "already_refunded"
    assert PurchaseRefund.objects.filter(purchase=purchase).count() == 2
    assert Retraction.objects.count() == 1


def test_the_same_idempotency_key_and_body_answer_the_same_without_refunding_twice(
    ingest_client, httpserver, campaign
):
    purchase = sent_purchase(ingest_client, httpserver)
    body = {"items": [{"sku": "SKU-A", "quantity": 1}]}

    first = refund(ingest_client, purchase.external_id, body, **{"Idempotency-Key": "refund-1"})
    second = refund(ingest_client, purchase.external_id, body, **{"Idempotency-Key": "refund-1"})
    other = refund(
        ingest_client,
        purchase.external_id,
        {"items": [{"sku": "SKU-B", "quantity": 1}]},
        **{"Idempotency-Key": "refund-1"},
    )

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert PurchaseRefund.objects.filter(purchase=purchase).count() == 1
    assert AuditEvent.objects.filter(action="purchase.refunded", object_id=str(purchase.pk)).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": [{"sku": "NOPE", "quantity": 1}]}, "sku"),
        ({"items": [{"sku": "SKU-A", "quantity": 3}]}, "quantity"),
        ({"items": [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-A", "quantity": 1}]}, "quantity"),
        ({"items": [{"sku": "SKU-A", "quantity": 0}]}, "quantity"),
        ({"items": [{"sku": "SKU-A", "quantity": "x"}]}, "quantity"),
        ({"items": [{"sku": "SKU-A", "quantity": 1, "unit_price": "19.99"}]}, "sku"),
        ({"items": [{"quantity": 1}]}, "sku"),
    ],
)
def test_lines_the_purchase_does_not_have_or_more_than_bought_are_400(
    ingest_client, httpserver, campaign, body, field
):
    purchase = sent_purchase(ingest_client, httpserver)

    response = refund(ingest_client, purchase.external_id, body)

    assert response.status_code == 400, response.json()
    items = response.json()["error"]["fields"]["items"]
    assert any(field in item for item in items)
    assert not PurchaseRefund.objects.exists()
    assert Evaluation.objects.get(purchase=purchase, campaign=campaign).eligible is True


@pytest.mark.parametrize("body", [{"items": []}, {"items": "all"}, [1, 2]])
def test_a_malformed_body_is_400(ingest_client, httpserver, campaign, body):
    purchase = sent_purchase(ingest_client, httpserver)
    assert refund(ingest_client, purchase.external_id, body).status_code == 400


def test_unknown_purchase_is_404_and_unevaluated_is_409(ingest_client, campaign):
    assert refund(ingest_client, "no-such-order").status_code == 404
    purchase = ingest(ingest_client)
    response = refund(ingest_client, purchase.external_id)
    assert response.status_code == 409 and response.json()["error"]["code"] == "purchase_not_evaluated"


def test_the_crm_role_may_not_refund(crm_client, ingest_client, httpserver, campaign):
    purchase = sent_purchase(ingest_client, httpserver)
    assert refund(crm_client, purchase.external_id).status_code == 403


def test_a_purchase_whose_external_id_ends_in_refund_is_still_readable(ingest_client, campaign):
    purchase = ingest(ingest_client, external_id="odd/refund")
    response = ingest_client.get("/api/v1/purchases/odd/refund/")
    assert response.status_code == 200 and response.json()["external_id"] == purchase.external_id


def test_a_whole_refund_rolls_back_the_orders_redemptions_and_a_partial_one_does_not(
    ingest_client, httpserver, campaign
):
    from promotions.models import Redemption
    from promotions.services import redemption_create
    from promotions.validation import parse_redemption_request
    from tests.promotions.conftest import redemption_body
    from tests.promotions.factories import PromoCodeFactory

    purchase = sent_purchase(ingest_client, httpserver)
    code = PromoCodeFactory(max_redemptions=5)
    redemption, _ = redemption_create(
        actor="system",
        idempotency_key="refund-redemption",
        request=parse_redemption_request(
            redemption_body(code.code, order_ref=purchase.external_id, mode="commit")
        ),
    )
    assert redemption.status == "committed"

    refund(ingest_client, purchase.external_id, {"items": [{"sku": "SKU-B", "quantity": 1}]})
    assert Redemption.objects.get(pk=redemption.pk).status == "committed"

    refund(ingest_client, purchase.external_id)
    redemption.refresh_from_db()
    assert (redemption.status, redemption.rollback_reason) == ("rolled_back", "purchase_refunded")
    code.refresh_from_db()
    assert code.redeemed_count == 0


def test_an_unsent_retraction_keeps_the_brand_due_for_the_tick(ingest_client, httpserver, campaign):
    from django.conf import settings

    from monitoring.maintenance import next_work_due_at

    purchase = sent_purchase(ingest_client, httpserver)
    retraction_id = of_campaign(refund(ingest_client, purchase.external_id).json(), campaign)["retraction_id"]
    OutboxMessage.objects.update(relayed_at=timezone.now())  # only the retraction is live work
    now = timezone.now()
    tick = now + timedelta(seconds=settings.MAINTENANCE_TICK_SECONDS)
    # Pending, never tried: due at the next tick.
    assert next_work_due_at(now) == tick
    Retraction.objects.filter(pk=retraction_id).update(status="sent")
    idle = next_work_due_at(now)
    soon = now + timedelta(seconds=settings.MAINTENANCE_TICK_SECONDS + 5)
    assert idle > soon
    # Retrying: due when its back-off ends.
    Retraction.objects.filter(pk=retraction_id).update(status="retrying", next_attempt_at=soon)
    assert next_work_due_at(now) == soon


@pytest.fixture
def admin_client_brand_a(brand_a):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("refund-admin", "a@example.com", "pw-123456789")
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def test_the_admin_lists_retractions_and_refunds_and_replays_a_dead_retraction(
    admin_client_brand_a, ingest_client, httpserver, campaign
):
    purchase = sent_purchase(ingest_client, httpserver)
    retraction_id = of_campaign(refund(ingest_client, purchase.external_id).json(), campaign)["retraction_id"]
    Retraction.objects.filter(pk=retraction_id).update(status="dead", attempts=8)
    client = admin_client_brand_a

    assert (
        purchase.external_id
        in client.get("/admin/dispatches/retraction/?status__exact=dead").content.decode()
    )
    page = client.get("/admin/purchases/purchaserefund/").content.decode()
    assert purchase.external_id in page
    detail = client.get(f"/admin/purchases/purchaserefund/{PurchaseRefund.objects.get().pk}/change/")
    assert "below the campaign" in detail.content.decode() or "no item counts" in detail.content.decode()
    assert client.get(f"/admin/dispatches/retraction/{retraction_id}/change/").status_code == 200

    response = client.post(
        "/admin/dispatches/retraction/",
        {"action": "replay_dead", "_selected_action": [retraction_id], "replay_confirmed": "yes"},
    )

    assert response.status_code == 302
    assert Retraction.objects.get(pk=retraction_id).status == "pending"
    assert AuditEvent.objects.filter(action="retraction.replayed", object_id=str(retraction_id)).exists()


def test_the_tasks_send_the_retraction_and_the_sweep_sends_its_retry(ingest_client, httpserver, campaign):
    from django.core.cache import cache

    from dispatches.tasks import SWEEP_LOCK_KEY, send_due_dispatches_task, send_retractions_task

    purchase = sent_purchase(ingest_client, httpserver)
    retraction_id = of_campaign(refund(ingest_client, purchase.external_id).json(), campaign)["retraction_id"]
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_data("busy", status=429)
    httpserver.expect_oneshot_request(SUBMISSIONS).respond_with_json({"ok": True})

    assert send_retractions_task.run([retraction_id, "not-a-uuid"])["retrying"] == 1
    Retraction.objects.filter(pk=retraction_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    cache.delete(SWEEP_LOCK_KEY)
    swept = send_due_dispatches_task.run()

    assert swept["sent"] == 1
    assert Retraction.objects.get(pk=retraction_id).status == "sent"
