"""Evaluation through the ORM path (SPEC §3): which campaigns, results written once, dispatch hand-over,
poison purchases, the sweep, and a broker that is down when the purchase is committed."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from campaigns.models import Campaign
from config.celery import app
from dispatches.models import Dispatch
from outbox.models import OutboxMessage
from outbox.tasks import outbox_relay_task
from purchases import services
from purchases.models import Evaluation, Purchase
from purchases.services import MAX_EVALUATION_ATTEMPTS, purchases_evaluate, purchases_evaluation_retry
from purchases.tasks import evaluate_batch_task, sweep_unevaluated_task
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory
from tests.purchases.conftest import purchase_body


def ingest(client, **overrides) -> Purchase:
    body = purchase_body(**overrides)
    response = client.post("/api/v1/purchases/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.json()
    return Purchase.objects.get(external_id=body["external_id"])


def send_messages(task_name: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(task_name=task_name).order_by("id"))


def test_eligible_purchase_gets_evaluations_and_one_dispatch_sent_by_the_evaluation(
    ingest_client, httpserver
):
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE, min_purchase_value=Decimal("50"))
    ItemRuleFactory(
        campaign=campaign, kind="whitelist", match="category", value="toys", multiplier=Decimal(2)
    )
    small = CampaignFactory(status=Campaign.Status.ACTIVE, min_purchase_value=Decimal("500"))
    campaign.partner.submission_url = httpserver.url_for("/submissions")
    campaign.partner.save()
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    purchase = ingest(ingest_client)

    outcome = purchases_evaluate(purchase_ids=[purchase.id])

    assert (outcome.evaluated, outcome.eligible, outcome.dispatches_created) == (1, 1, 1)
    assert (outcome.dispatch.claimed, outcome.dispatch.sent) == (1, 1)
    by_campaign = {e.campaign_id: e for e in Evaluation.objects.filter(purchase=purchase)}
    # 2 × 20 × 2 (whitelisted toys) + 20 = 100.00
    assert by_campaign[campaign.id].eligible is True
    assert by_campaign[campaign.id].eligible_value == Decimal("100.00")
    assert by_campaign[campaign.id].reason is None
    assert by_campaign[campaign.id].campaign_version == campaign.version
    assert by_campaign[small.id].reason == "below_minimum"
    assert by_campaign[small.id].eligible_value == Decimal("60.00")
    purchase.refresh_from_db()
    assert purchase.evaluated_at is not None and purchase.evaluation_attempts == 1
    (dispatch,) = Dispatch.objects.all()
    fields = (
        "purchase_id",
        "campaign_id",
        "partner_id",
        "status",
        "attempts",
        "claimed_until",
        "claim_token",
    )
    assert tuple(getattr(dispatch, name) for name in fields) == (
        purchase.id,
        campaign.id,
        campaign.partner_id,
        "sent",
        1,
        None,
        None,
    )
    # Sent by the evaluation task itself (ADR 0006 "Performance"): no second message, one request.
    assert send_messages("partners.send_dispatches") == []
    [(request, _)] = httpserver.log
    assert request.headers["Idempotency-Key"] == str(dispatch.id)
    sent = json.loads(request.data)
    assert (sent["campaign"], sent["purchase"]["external_id"], sent["purchase"]["eligible_value"]) == (
        {"id": campaign.id, "name": campaign.name, "version": campaign.version},
        purchase.external_id,
        "100.00",
    )
    assert list(dispatch.attempt_log.values_list("number", "status_code", "outcome")) == [(1, 200, "sent")]


def test_get_shows_evaluations_and_dispatches(ingest_client, crm_client):
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
    paused = CampaignFactory(status=Campaign.Status.PAUSED)
    purchase = ingest(ingest_client)
    assert ingest_client.get(f"/api/v1/purchases/{purchase.external_id}/").json()["evaluations"] == []
    evaluate_batch_task.run([purchase.id])

    for client in (ingest_client, crm_client):
        response = client.get(f"/api/v1/purchases/{purchase.external_id}/")
        assert response.status_code == 200
        body = response.json()
        dispatch = Dispatch.objects.get()
        assert set(body) == {
            "external_id",
            "customer_id",
            "channel",
            "purchased_at",
            "currency",
            "store_id",
            "items",
            "total",
            "evaluations",
            "dispatches",
        }
        assert body["external_id"] == purchase.external_id
        assert body["customer_id"] == "cust-1"
        assert body["channel"] == "in_store"
        assert body["currency"] == "EUR"
        assert body["store_id"] == "store-9"
        assert body["total"] == "60.00"
        assert body["items"][0] == {"sku": "SKU-A", "category": "toys", "quantity": 2, "unit_price": "20.00"}
        assert body["evaluations"] == [
            {
                "campaign_id": campaign.id,
                "campaign_version": campaign.version,
                "eligible": True,
                "eligible_value": "60.00",
                "reason": None,
            },
            {
                "campaign_id": paused.id,
                "campaign_version": paused.version,
                "eligible": False,
                "eligible_value": "0.00",
                "reason": "campaign_not_active",
            },
        ]
        # The evaluation made the first attempt; the test partner (port 9) refuses connections.
        assert body["dispatches"] == [
            {"id": str(dispatch.id), "campaign_id": campaign.id, "status": "retrying", "attempts": 1}
        ]


def test_unknown_purchase_is_404(ingest_client):
    response = ingest_client.get("/api/v1/purchases/does-not-exist/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_purchase_of_brand_b_is_404_on_brand_a(make_api_client, brand_a):
    client_b = make_api_client("brand_b", "ingest")
    body = purchase_body()
    response = client_b.post("/api/v1/purchases/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    client_a = make_api_client("brand_a", "ingest")
    assert client_a.get(f"/api/v1/purchases/{body['external_id']}/").status_code == 404
    assert client_b.get(f"/api/v1/purchases/{body['external_id']}/").status_code == 200
    # The key of brand_b is not a key on brand_a's host.
    client_a.credentials(HTTP_AUTHORIZATION=f"Api-Key {client_b.api_key}")
    assert client_a.get(f"/api/v1/purchases/{body['external_id']}/").status_code == 401


def test_which_campaigns_are_evaluated(ingest_client, settings):
    settings.LATE_PURCHASE_GRACE = timedelta(hours=48)
    now = timezone.now()
    evaluated = {
        "active": CampaignFactory(status="active"),
        "paused": CampaignFactory(status="paused"),
        # Ended 2 h ago, completed 1 h ago: a purchase made 3 h ago still counts.
        "late": CampaignFactory(
            status="completed", ends_at=now - timedelta(hours=2), completed_at=now - timedelta(hours=1)
        ),
    }
    not_evaluated = [
        CampaignFactory(status="draft"),
        CampaignFactory(status="cancelled"),
        CampaignFactory(status="archived", completed_at=now - timedelta(hours=1)),
        CampaignFactory(
            status="completed",
            starts_at=now - timedelta(days=10),
            ends_at=now - timedelta(days=3),
            completed_at=now - timedelta(hours=49),
        ),
    ]
    purchase = ingest(ingest_client, purchased_at=(now - timedelta(hours=3)).isoformat())
    purchases_evaluate(purchase_ids=[purchase.id])

    results = {e.campaign_id: e for e in Evaluation.objects.filter(purchase=purchase)}
    assert set(results) == {c.id for c in evaluated.values()}
    assert not {c.id for c in not_evaluated} & set(results)
    assert results[evaluated["active"].id].eligible
    assert results[evaluated["late"].id].eligible, "a late purchase made before the end counts"
    assert results[evaluated["paused"].id].reason == "campaign_not_active"
    assert set(Dispatch.objects.values_list("campaign_id", flat=True)) == {
        evaluated["active"].id,
        evaluated["late"].id,
    }


def test_a_purchase_after_the_end_of_a_late_campaign_is_outside_validity(ingest_client):
    now = timezone.now()
    late = CampaignFactory(
        status="completed", ends_at=now - timedelta(hours=2), completed_at=now - timedelta(hours=1)
    )
    purchase = ingest(ingest_client, purchased_at=(now - timedelta(minutes=30)).isoformat())
    purchases_evaluate(purchase_ids=[purchase.id])
    assert Evaluation.objects.get(purchase=purchase, campaign=late).reason == "outside_validity"


def test_rules_edits_take_effect_for_the_next_purchase(ingest_client):
    campaign = CampaignFactory(status="active", min_purchase_value=Decimal("0"))
    first = ingest(ingest_client)
    purchases_evaluate(purchase_ids=[first.id])
    ItemRuleFactory(campaign=campaign, kind="blacklist", match="sku", value="SKU-B")
    Campaign.objects.filter(pk=campaign.pk).update(version=campaign.version + 1)
    second = ingest(ingest_client)
    purchases_evaluate(purchase_ids=[second.id])
    values = {
        e.purchase_id: (e.campaign_version, e.eligible_value)
        for e in Evaluation.objects.filter(campaign=campaign)
    }
    assert values == {
        first.id: (campaign.version, Decimal("60.00")),
        second.id: (campaign.version + 1, Decimal("40.00")),
    }


def test_running_the_task_twice_evaluates_and_dispatches_once(ingest_client):
    CampaignFactory(status="active")
    CampaignFactory(status="active")
    purchase = ingest(ingest_client)
    assert evaluate_batch_task.run([purchase.id]) == 1
    assert evaluate_batch_task.run([purchase.id]) == 0
    assert Evaluation.objects.filter(purchase=purchase).count() == 2
    # Each dispatch had its first attempt in the first run (the test partner refuses connections:
    # retrying); the second run created and sent nothing.
    assert sorted(Dispatch.objects.filter(purchase=purchase).values_list("attempts", "status")) == [
        (1, "retrying"),
        (1, "retrying"),
    ]
    assert sum(d.attempt_log.count() for d in Dispatch.objects.filter(purchase=purchase)) == 2
    purchase.refresh_from_db()
    assert purchase.evaluation_attempts == 1


def test_the_same_purchase_posted_twice_is_evaluated_and_dispatched_once(
    ingest_client, django_capture_on_commit_callbacks, monkeypatch
):
    CampaignFactory(status="active")
    # The broker "runs" every relayed task at once, in this transaction.
    monkeypatch.setattr(
        app,
        "send_task",
        lambda name, args, kwargs, **_: app.tasks[name].apply(args=args) if name in app.tasks else None,
    )
    body = purchase_body()
    with django_capture_on_commit_callbacks(execute=True):
        first = ingest_client.post(
            "/api/v1/purchases/", data=json.dumps(body), content_type="application/json"
        )
    with django_capture_on_commit_callbacks(execute=True):
        second = ingest_client.post(
            "/api/v1/purchases/", data=json.dumps(body), content_type="application/json"
        )
    assert (first.status_code, second.status_code) == (202, 200)
    assert len(second.json()["evaluations"]) == 1
    assert Evaluation.objects.count() == 1
    assert Dispatch.objects.count() == 1


def test_poison_purchase_is_dead_lettered_after_n_attempts_without_holding_back_others(ingest_client):
    CampaignFactory(status="active")
    healthy = ingest(ingest_client)
    poison = ingest(ingest_client)
    # A row no evaluation can read (as if written by a buggy import): the engine cannot parse its price.
    Purchase.objects.filter(pk=poison.pk).update(items=[{"sku": "X", "quantity": 1, "unit_price": "oops"}])

    outcome = purchases_evaluate(purchase_ids=[healthy.id, poison.id])
    assert outcome.evaluated == 1
    healthy.refresh_from_db()
    assert healthy.evaluated_at is not None
    for _ in range(MAX_EVALUATION_ATTEMPTS - 1):
        purchases_evaluate(purchase_ids=[poison.id, healthy.id])
    poison.refresh_from_db()
    assert poison.evaluated_at is None
    assert poison.evaluation_attempts == MAX_EVALUATION_ATTEMPTS

    # Dead-lettered: further deliveries do nothing, the sweep leaves it alone.
    outcome = purchases_evaluate(purchase_ids=[poison.id])
    assert outcome.evaluated == 0
    outcome = purchases_evaluate(purchase_ids=[poison.id], redelivered=True)
    assert outcome.dead_lettered == [poison.id] and outcome.evaluated == 0
    poison.refresh_from_db()
    assert poison.evaluation_attempts == MAX_EVALUATION_ATTEMPTS
    Purchase.objects.filter(pk=poison.pk).update(received_at=timezone.now() - timedelta(hours=1))
    OutboxMessage.objects.all().delete()
    assert sweep_unevaluated_task.run() == 0
    assert Evaluation.objects.filter(purchase=poison).count() == 0

    # Once repaired, the admin's retry gives it fresh attempts.
    Purchase.objects.filter(pk=poison.pk).update(items=[{"sku": "X", "quantity": 1, "unit_price": "5.00"}])
    assert purchases_evaluation_retry(purchase_ids=[poison.id, healthy.id]) == 1
    (message,) = send_messages("purchases.evaluate_batch")
    evaluate_batch_task.run(*message.args)
    poison.refresh_from_db()
    assert poison.evaluated_at is not None


def test_a_purchase_that_kills_the_worker_is_dead_lettered_through_redeliveries(ingest_client, monkeypatch):
    CampaignFactory(status="active")
    killer = ingest(ingest_client)

    def worker_killed(*args, **kwargs):
        raise SystemExit("worker process killed mid-evaluation")  # not an Exception: nothing catches it

    monkeypatch.setattr(services, "purchase_facts", worker_killed)
    with pytest.raises(SystemExit):
        evaluate_batch_task.run([killer.id])  # first delivery: dies before counting anything
    # acks_late + reject_on_worker_lost: the broker hands the message out again, flagged redelivered.
    for expected_attempts in range(1, MAX_EVALUATION_ATTEMPTS + 1):
        with pytest.raises(SystemExit):
            purchases_evaluate(purchase_ids=[killer.id], redelivered=True)
        killer.refresh_from_db()
        assert killer.evaluation_attempts == expected_attempts  # committed before the crash
    outcome = purchases_evaluate(purchase_ids=[killer.id], redelivered=True)
    assert outcome.dead_lettered == [killer.id]  # the loop ends: the message is acknowledged


def test_a_redelivered_message_is_recognised_by_the_task(ingest_client):
    CampaignFactory(status="active")
    purchase = ingest(ingest_client)
    result = evaluate_batch_task.apply(args=[[purchase.id]], delivery_info={"redelivered": True})
    assert result.get() == 1
    purchase.refresh_from_db()
    assert purchase.evaluated_at is not None and purchase.evaluation_attempts == 1


def test_the_sweep_re_enqueues_purchases_left_unevaluated(ingest_client):
    stuck = ingest(ingest_client)
    recent = ingest(ingest_client)
    done = ingest(ingest_client)
    purchases_evaluate(purchase_ids=[done.id])
    Purchase.objects.filter(pk__in=[stuck.pk, done.pk]).update(
        received_at=timezone.now() - timedelta(minutes=5)
    )
    OutboxMessage.objects.all().delete()

    assert sweep_unevaluated_task.run() == 1
    (message,) = send_messages("purchases.evaluate_batch")
    assert message.args == [[stuck.id]]
    assert recent.evaluated_at is None  # too young to be called stuck: its own message is on the way


def test_a_purchase_posted_while_the_broker_is_down_is_processed_once_it_returns(
    ingest_client, django_capture_on_commit_callbacks, monkeypatch
):
    campaign = CampaignFactory(status="active")

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    body = purchase_body()
    with django_capture_on_commit_callbacks(execute=True):
        response = ingest_client.post(
            "/api/v1/purchases/", data=json.dumps(body), content_type="application/json"
        )
    assert response.status_code == 202  # accepted: the purchase and its message are committed
    purchase = Purchase.objects.get(external_id=body["external_id"])
    (pending,) = send_messages("purchases.evaluate_batch")
    assert pending.relayed_at is None  # its brand lane could not start: the sweep starts it

    # The broker is back: the outbox sweep starts the brand's lane, the worker (inline here) runs it.
    delivered = []

    def broker_up(name, args, kwargs, **_):
        delivered.append(name)
        app.tasks[name].apply(args=args)

    monkeypatch.setattr(app, "send_task", broker_up)
    with django_capture_on_commit_callbacks(execute=True):
        outbox_relay_task.run()
    purchase.refresh_from_db()
    assert purchase.evaluated_at is not None
    assert Evaluation.objects.get(purchase=purchase, campaign=campaign).eligible
    assert Dispatch.objects.filter(purchase=purchase).count() == 1
    assert delivered[0] == "outbox.drain_lane"
    pending.refresh_from_db()
    assert pending.relayed_at is not None


@pytest.mark.parametrize("channel", ["in_store", "ecommerce"])
def test_channel_and_currency_checks_through_the_orm(ingest_client, channel):
    only_online = CampaignFactory(status="active", purchase_channels=["ecommerce"])
    dollars = CampaignFactory(status="active", currency="USD")
    purchase = ingest(ingest_client, channel=channel)
    purchases_evaluate(purchase_ids=[purchase.id])
    results = {e.campaign_id: e.reason for e in Evaluation.objects.filter(purchase=purchase)}
    assert results[only_online.id] == (None if channel == "ecommerce" else "channel_not_allowed")
    assert results[dollars.id] == "currency_mismatch"
