"""Refunds under concurrency: 16 threads (own connections, one barrier) refund the same purchase in full.

Exactly one refund happens; the others are 409 `already_refunded`. One retraction is queued, the
budget's committed reward is given back once, and the customer's reward counter once.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

from django.db import connection, connections, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.budgets import budget_set
from campaigns.models import Budget, Campaign, CustomerRewardCount
from campaigns.snapshots import clear_snapshot_cache
from core.exceptions import ConflictError
from dispatches.models import Dispatch, Retraction
from outbox.models import OutboxMessage
from partners.models import Partner
from purchases.models import Evaluation, Purchase, PurchaseRefund
from purchases.services import purchase_refund, purchases_evaluate, purchases_ingest
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.purchases.conftest import in_own_connection, purchase_body

THREADS = 16


def test_16_concurrent_whole_refunds_of_one_purchase_refund_it_once(brands, db, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    test_database = connection.settings_dict["NAME"]
    body = purchase_body(
        customer_id="refund-racer", purchased_at=(timezone.now() - timedelta(hours=1)).isoformat()
    )
    state: dict = {}

    def arrange():
        with schema_context("brand_a"):
            state["outbox_from"] = (
                OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
            )
            partner = PartnerFactory(slug="race-refund", submission_url=httpserver.url_for("/submissions"))
            campaign = CampaignFactory(
                status=Campaign.Status.ACTIVE,
                partner=partner,
                name="Refund race",
                min_purchase_value=Decimal("50"),
                max_rewards_per_customer=5,
            )
            budget_set(campaign_id=campaign.pk, actor="user:ana", kind="count", limit=Decimal(10))
            state["partner"], state["campaign"] = partner, campaign
            # Evaluated here, not by a Celery worker of the session: the message is dropped unrelayed.
            with transaction.atomic():
                (result,) = purchases_ingest(bodies=[body])
                OutboxMessage.objects.filter(id__gt=state["outbox_from"]).delete()
            state["purchase_id"] = result.purchase_id
            assert purchases_evaluate(purchase_ids=[result.purchase_id]).dispatch.sent == 1

    def clean_up():
        with schema_context("brand_a"):
            purchase_id = state.get("purchase_id")
            Retraction.objects.filter(dispatch__purchase_id=purchase_id).delete()
            Dispatch.objects.filter(purchase_id=purchase_id).delete()
            Evaluation.objects.filter(purchase_id=purchase_id).delete()
            PurchaseRefund.objects.filter(purchase_id=purchase_id).delete()
            Purchase.objects.filter(pk=purchase_id).delete()
            OutboxMessage.objects.filter(id__gt=state.get("outbox_from", 0)).delete()
            if "campaign" in state:
                Campaign.objects.filter(pk=state["campaign"].pk).delete()
                Partner.objects.filter(pk=state["partner"].pk).delete()

    clear_snapshot_cache()
    try:
        in_own_connection(test_database, arrange)
        barrier = threading.Barrier(THREADS)
        refunded: list[bool] = []
        conflicts: list[str] = []
        errors: list[BaseException] = []

        def refund_it() -> None:
            connections["default"].settings_dict["NAME"] = test_database
            try:
                with schema_context("brand_a"):
                    barrier.wait(timeout=60)
                    try:
                        purchase_refund(actor="system", external_id=body["external_id"], body=None)
                        refunded.append(True)
                    except ConflictError as exc:
                        conflicts.append(exc.code)
            except BaseException as exc:  # surfaced in the main thread
                errors.append(exc)
                barrier.abort()
            finally:
                connections.close_all()

        threads = [threading.Thread(target=refund_it) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors

        def outcome():
            with schema_context("brand_a"):
                campaign = state["campaign"]
                budget = Budget.objects.get(campaign=campaign)
                return {
                    "refunds": PurchaseRefund.objects.filter(purchase_id=state["purchase_id"]).count(),
                    "retractions": Retraction.objects.filter(
                        dispatch__purchase_id=state["purchase_id"]
                    ).count(),
                    "budget": (budget.committed, budget.reserved),
                    "rewards": CustomerRewardCount.objects.get(
                        campaign=campaign, customer_id="refund-racer"
                    ).rewards,
                }

        result = in_own_connection(test_database, outcome)
        assert (len(refunded), conflicts) == (1, ["already_refunded"] * (THREADS - 1))
        assert result == {"refunds": 1, "retractions": 1, "budget": (0, 0), "rewards": 0}
    finally:
        in_own_connection(test_database, clean_up)
        clear_snapshot_cache()
