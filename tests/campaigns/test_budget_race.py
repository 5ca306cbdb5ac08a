"""The budget under concurrency (SPEC §13): 4 clients, 200 eligible purchases, a budget of 50 rewards.

Each client evaluates its purchases in batches of 10 on its own database connection; all four are
released by one barrier. Exactly 50 are dispatched, the campaign is paused when the 45th reward is
reserved (90 %) and completed when the budget is full, the ledger adds up, and a watcher on a fifth
connection never sees `committed + reserved` above the limit.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone
from django_tenants.utils import schema_context

from campaigns.budgets import budget_set
from campaigns.models import Budget, BudgetLedger, Campaign, CampaignTransition
from campaigns.snapshots import clear_snapshot_cache
from core.models import AuditEvent
from dispatches.models import Dispatch
from outbox.models import OutboxMessage
from partners.models import Partner
from purchases.models import Evaluation, Purchase
from purchases.services import purchases_evaluate, purchases_ingest
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.purchases.conftest import in_own_connection, purchase_body

CLIENTS = 4
PER_CLIENT = 50
BATCH = 10
LIMIT = 50


def test_budget_of_50_with_200_purchases_from_4_clients_dispatches_exactly_50(brands, db, httpserver):
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})
    test_database = connection.settings_dict["NAME"]
    start = timezone.now() - timedelta(hours=3)
    bodies = [
        [
            purchase_body(purchased_at=(start + timedelta(seconds=c * PER_CLIENT + i)).isoformat())
            for i in range(PER_CLIENT)
        ]
        for c in range(CLIENTS)
    ]
    state: dict = {}

    def arrange():
        with schema_context("brand_a"):
            state["outbox_from"] = (
                OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0
            )
            partner = PartnerFactory(slug="race-budget", submission_url=httpserver.url_for("/submissions"))
            campaign = CampaignFactory(status=Campaign.Status.ACTIVE, partner=partner, name="Budget race")
            budget_set(campaign_id=campaign.pk, actor="user:ana", kind="count", limit=Decimal(LIMIT))
            state["partner"], state["campaign"] = partner, campaign
            state["ids"] = []
            for client_bodies in bodies:
                purchases_ingest(bodies=client_bodies)
                state["ids"].append(
                    list(
                        Purchase.objects.filter(external_id__in=[b["external_id"] for b in client_bodies])
                        .order_by("purchased_at")
                        .values_list("id", flat=True)
                    )
                )

    def clean_up():
        with schema_context("brand_a"):
            campaign = state.get("campaign")
            every_id = [pk for ids in state.get("ids", []) for pk in ids]
            Dispatch.objects.filter(purchase_id__in=every_id).delete()
            Evaluation.objects.filter(purchase_id__in=every_id).delete()
            Purchase.objects.filter(pk__in=every_id).delete()
            OutboxMessage.objects.filter(id__gt=state.get("outbox_from", 0)).delete()
            if campaign is not None:
                Campaign.objects.filter(pk=campaign.pk).delete()
                Partner.objects.filter(pk=state["partner"].pk).delete()

    clear_snapshot_cache()
    try:
        in_own_connection(test_database, arrange)
        campaign = state["campaign"]
        barrier = threading.Barrier(CLIENTS + 1)
        done = threading.Event()
        errors: list[BaseException] = []
        snapshots: list[tuple[Decimal, Decimal, Decimal]] = []

        def client(ids: list[int]) -> None:
            connections["default"].settings_dict["NAME"] = test_database
            try:
                with schema_context("brand_a"):
                    barrier.wait(timeout=30)
                    for first in range(0, len(ids), BATCH):
                        purchases_evaluate(purchase_ids=ids[first : first + BATCH])
            except BaseException as exc:  # surfaced in the main thread
                errors.append(exc)
                barrier.abort()
            finally:
                connections.close_all()

        def watcher() -> None:
            connections["default"].settings_dict["NAME"] = test_database
            try:
                with schema_context("brand_a"):
                    barrier.wait(timeout=30)
                    while not done.is_set():
                        row = (
                            Budget.objects.filter(campaign_id=campaign.pk)
                            .values_list("committed", "reserved", "limit")
                            .first()
                        )
                        snapshots.append(row)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=client, args=(ids,)) for ids in state["ids"]]
        watching = threading.Thread(target=watcher)
        for thread in [*threads, watching]:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        done.set()
        watching.join(timeout=10)
        assert not errors, errors

        def outcome():
            with schema_context("brand_a"):
                every_id = [pk for ids in state["ids"] for pk in ids]
                budget = Budget.objects.get(campaign_id=campaign.pk)
                ledger = BudgetLedger.objects.filter(budget=budget)
                return {
                    "dispatched": Dispatch.objects.filter(campaign_id=campaign.pk).count(),
                    "eligible": Evaluation.objects.filter(
                        campaign_id=campaign.pk, purchase_id__in=every_id, eligible=True
                    ).count(),
                    "reasons": set(
                        Evaluation.objects.filter(campaign_id=campaign.pk, eligible=False).values_list(
                            "reason", flat=True
                        )
                    ),
                    "budget": (budget.committed, budget.reserved, budget.limit),
                    "ledger_committed": ledger.filter(status="committed").aggregate(s=Sum("amount"))["s"]
                    or 0,
                    "ledger_reserved": ledger.filter(status="reserved").aggregate(s=Sum("amount"))["s"] or 0,
                    "ledger_rows": ledger.count(),
                    "steps": list(
                        CampaignTransition.objects.filter(campaign_id=campaign.pk)
                        .order_by("id")
                        .values_list("from_status", "to_status", "actor", "note")
                    ),
                    "threshold": list(
                        AuditEvent.objects.filter(
                            action="budget.threshold", object_id=str(campaign.pk)
                        ).values_list("changes", flat=True)
                    ),
                    "status": Campaign.objects.get(pk=campaign.pk).status,
                }

        result = in_own_connection(test_database, outcome)
        assert result["dispatched"] == LIMIT
        assert result["eligible"] == LIMIT
        assert result["reasons"] <= {"budget_exhausted", "campaign_not_active"}
        committed, reserved, _limit = result["budget"]
        assert committed + reserved == LIMIT
        assert (result["ledger_committed"], result["ledger_reserved"]) == (committed, reserved)
        assert result["ledger_rows"] == LIMIT
        assert result["steps"][-2:] == [
            ("active", "paused", "system", "budget_threshold"),
            ("paused", "completed", "system", "budget_exhausted"),
        ]
        assert len(result["threshold"]) == 1
        assert result["threshold"][0]["crossed_at"]["after"] == "45"
        assert result["status"] == "completed"
        assert snapshots, "the watcher saw the budget"
        assert all(c + r <= lim for c, r, lim in snapshots)
    finally:
        in_own_connection(test_database, clean_up)
        clear_snapshot_cache()
