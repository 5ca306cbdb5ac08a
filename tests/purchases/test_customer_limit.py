"""`max_rewards_per_customer` through the purchase pipeline (SPEC §12, §3 order; ADR 0025).

One batch or many, in purchase order, after `below_minimum` and before `budget_exhausted`; and a race
of 64 threads (own connections, one barrier) each evaluating a purchase of the same customer.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.db.utils import IntegrityError
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.budgets import budget_set
from campaigns.limits import RewardRequest, rewards_grant, rewards_release
from campaigns.models import Campaign, CustomerRewardCount
from campaigns.snapshots import clear_snapshot_cache
from dispatches.models import Dispatch
from outbox.models import OutboxMessage
from partners.models import Partner
from purchases.models import Evaluation, Purchase
from purchases.services import purchases_evaluate, purchases_ingest
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.purchases.conftest import in_own_connection, purchase_body


@pytest.fixture
def limited(brand_a, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    partner = PartnerFactory(submission_url=httpserver.url_for("/submissions"))
    return CampaignFactory(
        status=Campaign.Status.ACTIVE,
        partner=partner,
        min_purchase_value=Decimal("50"),
        max_rewards_per_customer=3,
    )


def _ingest(bodies) -> list[int]:
    results = purchases_ingest(bodies=bodies)
    return [r.purchase_id for r in results]


def _bodies(n: int, *, customer: str = "cust-1", start=None, **overrides) -> list[dict]:
    start = start or timezone.now() - timedelta(hours=2)
    return [
        purchase_body(
            customer_id=customer, purchased_at=(start + timedelta(minutes=i)).isoformat(), **overrides
        )
        for i in range(n)
    ]


def _reasons(campaign, ids) -> list:
    by_purchase = dict(
        Evaluation.objects.filter(campaign=campaign, purchase_id__in=ids).values_list("purchase_id", "reason")
    )
    return [by_purchase[pk] for pk in ids]


def test_a_batch_rewards_the_first_purchases_in_purchase_order_up_to_the_limit(limited):
    bodies = _bodies(5)
    # Sent in reverse: purchase order (purchased_at), not request order, decides who is first.
    ids = _ingest(list(reversed(bodies)))[::-1]

    outcome = purchases_evaluate(purchase_ids=ids)

    assert outcome.eligible == 3
    assert _reasons(limited, ids) == [None, None, None, "customer_limit_reached", "customer_limit_reached"]
    assert Dispatch.objects.filter(campaign=limited).count() == 3
    counter = CustomerRewardCount.objects.get(campaign=limited, customer_id="cust-1")
    assert (counter.rewards, counter.reward_limit) == (3, 3)
    # The value stays what the engine computed: only the verdict is the limit's.
    assert set(Evaluation.objects.filter(campaign=limited).values_list("eligible_value", flat=True)) == {
        Decimal("60.00")
    }


def test_the_limit_holds_across_batches_and_customers_are_counted_apart(limited):
    first = _ingest(_bodies(2))
    purchases_evaluate(purchase_ids=first)
    later = _ingest(_bodies(2, start=timezone.now() - timedelta(minutes=30)) + _bodies(1, customer="cust-2"))

    purchases_evaluate(purchase_ids=later)

    assert _reasons(limited, later) == [None, "customer_limit_reached", None]
    counts = dict(CustomerRewardCount.objects.filter(campaign=limited).values_list("customer_id", "rewards"))
    assert counts == {"cust-1": 3, "cust-2": 1}


def test_below_minimum_comes_first_and_uses_no_reward(limited):
    small = _ingest(_bodies(4, items=[{"sku": "S", "quantity": 1, "unit_price": "10.00"}], total="10.00"))
    purchases_evaluate(purchase_ids=small)

    assert set(_reasons(limited, small)) == {"below_minimum"}
    assert not CustomerRewardCount.objects.filter(campaign=limited).exists()


def test_a_campaign_without_limit_counts_nothing(brand_a, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    campaign = CampaignFactory(
        status=Campaign.Status.ACTIVE,
        partner=PartnerFactory(submission_url=httpserver.url_for("/submissions")),
    )
    ids = _ingest(_bodies(5))
    assert purchases_evaluate(purchase_ids=ids).eligible == 5
    assert not CustomerRewardCount.objects.filter(campaign=campaign).exists()


def test_the_limit_comes_before_the_budget_and_a_pair_the_budget_refuses_gives_its_reward_back(limited):
    budget_set(campaign_id=limited.pk, actor="user:ana", kind="count", limit=Decimal(2))
    ids = _ingest(_bodies(4))

    purchases_evaluate(purchase_ids=ids)

    assert _reasons(limited, ids) == [None, None, "budget_exhausted", "customer_limit_reached"]
    # Three were granted, the budget took two: the third reward went back to the customer.
    assert CustomerRewardCount.objects.get(campaign=limited, customer_id="cust-1").rewards == 2


def test_grant_and_release_are_conditional(brand_a):
    campaign = CampaignFactory(max_rewards_per_customer=2)
    key = (campaign.pk, "c")
    assert rewards_grant(requests={key: RewardRequest(wanted=5, limit=2)}) == {key: 2}
    assert rewards_grant(requests={key: RewardRequest(wanted=1, limit=2)}) == {key: 0}
    # A lowered limit keeps what the customer has and grants nothing more.
    assert rewards_grant(requests={key: RewardRequest(wanted=1, limit=1)}) == {key: 0}
    assert rewards_release(released={key: 3}) == 0  # never below zero
    assert rewards_release(released={key: 1}) == 1
    assert rewards_grant(requests={key: RewardRequest(wanted=4, limit=3)}) == {key: 2}
    assert CustomerRewardCount.objects.get(campaign=campaign, customer_id="c").rewards == 3


def test_the_check_constraint_refuses_a_counter_over_its_limit(brand_a):
    campaign = CampaignFactory(max_rewards_per_customer=1)
    with pytest.raises(IntegrityError):
        CustomerRewardCount.objects.create(campaign=campaign, customer_id="c", rewards=2, reward_limit=1)


THREADS = 64
LIMIT = 3


def test_64_threads_of_one_customer_get_exactly_the_limit(brands, db, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    test_database = connection.settings_dict["NAME"]
    start = timezone.now() - timedelta(hours=3)
    bodies = [
        purchase_body(customer_id="racer", purchased_at=(start + timedelta(seconds=i)).isoformat())
        for i in range(THREADS)
    ]
    state: dict = {}

    def arrange():
        with schema_context("brand_a"):
            state["outbox_from"] = (
                OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
            )
            partner = PartnerFactory(slug="race-limit", submission_url=httpserver.url_for("/submissions"))
            state["partner"] = partner
            state["campaign"] = CampaignFactory(
                status=Campaign.Status.ACTIVE,
                partner=partner,
                name="Limit race",
                max_rewards_per_customer=LIMIT,
            )
            # The threads evaluate: the evaluation message is dropped before it can be relayed (a
            # Celery worker of the session may be running and would evaluate them first).
            with transaction.atomic():
                state["ids"] = [r.purchase_id for r in purchases_ingest(bodies=bodies)]
                OutboxMessage.objects.filter(id__gt=state["outbox_from"]).delete()

    def clean_up():
        with schema_context("brand_a"):
            ids = state.get("ids", [])
            Dispatch.objects.filter(purchase_id__in=ids).delete()
            Evaluation.objects.filter(purchase_id__in=ids).delete()
            Purchase.objects.filter(pk__in=ids).delete()
            OutboxMessage.objects.filter(id__gt=state.get("outbox_from", 0)).delete()
            if "campaign" in state:
                Campaign.objects.filter(pk=state["campaign"].pk).delete()
                Partner.objects.filter(pk=state["partner"].pk).delete()

    clear_snapshot_cache()
    try:
        in_own_connection(test_database, arrange)
        barrier = threading.Barrier(THREADS)
        errors: list[BaseException] = []
        eligible: list[int] = []

        def evaluate(purchase_id: int) -> None:
            connections["default"].settings_dict["NAME"] = test_database
            try:
                with schema_context("brand_a"):
                    barrier.wait(timeout=60)
                    eligible.append(purchases_evaluate(purchase_ids=[purchase_id]).eligible)
            except BaseException as exc:  # surfaced in the main thread
                errors.append(exc)
                barrier.abort()
            finally:
                connections.close_all()

        threads = [threading.Thread(target=evaluate, args=(pk,)) for pk in state["ids"]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors

        def outcome():
            with schema_context("brand_a"):
                campaign = state["campaign"]
                return (
                    list(Evaluation.objects.filter(campaign=campaign).values_list("reason", flat=True)),
                    Dispatch.objects.filter(campaign=campaign).count(),
                    CustomerRewardCount.objects.get(campaign=campaign, customer_id="racer").rewards,
                )

        reasons, dispatched, rewards = in_own_connection(test_database, outcome)
        assert sum(eligible) == LIMIT
        assert reasons.count(None) == LIMIT
        assert reasons.count("customer_limit_reached") == THREADS - LIMIT
        assert len(reasons) == THREADS
        assert (dispatched, rewards) == (LIMIT, LIMIT)
    finally:
        in_own_connection(test_database, clean_up)
        clear_snapshot_cache()


def test_the_purchase_evaluated_event_says_customer_limit_reached(limited, httpserver):
    from core.actors import SYSTEM_ACTOR
    from outbox import events
    from outbox.models import DomainEvent
    from webhooks.services import webhook_endpoint_create

    events.subscriptions_changed()
    try:
        webhook_endpoint_create(
            actor=SYSTEM_ACTOR, url=httpserver.url_for("/hooks"), event_types=["purchase.evaluated"]
        )
        ids = _ingest(_bodies(4))
        purchases_evaluate(purchase_ids=ids)
        verdicts = [
            next(e["reason"] for e in event.data["evaluations"] if e["campaign_id"] == limited.pk)
            for event in DomainEvent.objects.filter(event_type="purchase.evaluated").order_by("id")
        ]
    finally:
        events.subscriptions_changed()
    assert sorted(verdicts, key=str) == sorted([None, None, None, "customer_limit_reached"], key=str)


def test_the_campaign_api_sets_and_validates_the_limit(crm_client, limited):
    url = f"/api/v1/campaigns/{limited.pk}/"
    response = crm_client.patch(url, {"max_rewards_per_customer": 2}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["max_rewards_per_customer"] == 2
    assert response.json()["version"] == limited.version + 1
    assert crm_client.patch(url, {"max_rewards_per_customer": 0}, format="json").status_code == 400
    cleared = crm_client.patch(url, {"max_rewards_per_customer": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["max_rewards_per_customer"] is None


def test_the_admin_form_sets_and_validates_the_limit(brand_a, django_user_model):
    from django.contrib.auth.models import Group
    from django.test import Client

    from tests.campaigns.test_admin import ADMIN, form_data

    user = django_user_model.objects.create_user("limit-editor", password="pw-123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM editor"))
    editor = Client(HTTP_HOST="brand-a.localhost")
    editor.force_login(user)
    partner = PartnerFactory()

    refused = editor.post(f"{ADMIN}add/", form_data(partner, max_rewards_per_customer="0"))
    assert refused.status_code == 200
    assert "max_rewards_per_customer" in refused.context["adminform"].form.errors
    created = editor.post(f"{ADMIN}add/", form_data(partner, max_rewards_per_customer="2"))

    assert created.status_code == 302
    campaign = Campaign.objects.get(name="Carnival 2027")
    assert campaign.max_rewards_per_customer == 2
    page = editor.get(f"{ADMIN}{campaign.pk}/change/").content.decode()
    assert 'name="max_rewards_per_customer"' in page and 'value="2"' in page
