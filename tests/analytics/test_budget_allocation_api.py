"""Budget allocations (SPEC §17): POST proposes and stores the split, GET lists and reads, apply writes budgets."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django_tenants.utils import schema_context

from analytics.models import BudgetAllocation
from analytics.services import AllocationRequest, budget_allocation_apply, budget_allocation_create
from campaigns.budgets import budget_reserve, budget_set
from campaigns.models import Budget, Campaign
from core.exceptions import ConflictError
from core.models import AuditEvent
from partners.models import Partner
from tests.analytics.curves import seed_curve
from tests.campaigns.factories import CampaignFactory
from tests.purchases.conftest import in_own_connection

pytestmark = pytest.mark.django_db
URL = "/api/v1/budget-allocations/"


@pytest.fixture
def two_campaigns(brand_a):
    strong = CampaignFactory(name="Strong", status=Campaign.Status.ACTIVE)
    weak = CampaignFactory(name="Weak", status=Campaign.Status.ACTIVE)
    seed_curve(strong, a=3000, b=200, days=60, seed=1, low=20, high=400)
    seed_curve(weak, a=300, b=20, days=60, seed=2, low=5, high=100)
    budget_set(campaign_id=strong.pk, actor="user:ana", kind="spend", limit=Decimal(1000))
    return strong, weak


def test_the_split_favours_the_campaign_that_saturates_later_and_explains_each_line(
    crm_client, two_campaigns
):
    strong, weak = two_campaigns
    body = {
        "total": "6000.00",
        "horizon_days": 30,
        "campaigns": [{"id": strong.pk}, {"id": weak.pk, "max": "2500"}],
    }
    response = crm_client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["total"], data["currency"], data["horizon_days"]) == (
        "proposed",
        "6000.00",
        "EUR",
        30,
    )
    lines = {line["id"]: line for line in data["campaigns"]}
    assert sum(Decimal(line["proposed"]) for line in lines.values()) == Decimal("6000.00")
    assert Decimal(lines[strong.pk]["proposed"]) > Decimal(lines[weak.pk]["proposed"])
    assert Decimal(lines[weak.pk]["proposed"]) <= Decimal("2500")
    assert lines[strong.pk]["current"] == "1000.0000" or lines[strong.pk]["current"] == "1000.00"
    assert lines[weak.pk]["current"] is None
    for line in lines.values():
        assert line["confidence"] in {"high", "medium", "low"} and line["method"] == "diminishing_returns"
        text = line["rationale"]
        assert line["proposed"] in text and "marginal ROAS" in text and "saturation" in text
        assert f"confidence {line['confidence']}" in text
    assert "1000.00 EUR → " in lines[strong.pk]["rationale"]
    assert "no spend budget → " in lines[weak.pk]["rationale"]
    # Equal marginal returns where neither is held by a bound: the split is the optimum.
    assert Decimal(data["predicted_revenue"]) > 0
    stored = crm_client.get(f"{URL}{data['id']}/").json()
    assert stored == data
    listed = crm_client.get(URL).json()
    assert listed["count"] >= 1 and listed["results"][0]["id"] == data["id"]
    assert (
        AuditEvent.objects.filter(action="budget_allocation.created", object_id=str(data["id"])).count() == 1
    )


def test_apply_writes_spend_budgets_with_audit_rows_and_twice_is_409(crm_client, two_campaigns):
    strong, weak = two_campaigns
    data = crm_client.post(URL, {"total": "3000", "campaigns": [{"id": strong.pk}, {"id": weak.pk}]},
                           format="json").json()  # fmt: skip
    proposed = {line["id"]: Decimal(line["proposed"]) for line in data["campaigns"]}
    response = crm_client.post(f"{URL}{data['id']}/apply/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "applied" and response.json()["applied_at"]
    for campaign_id, amount in proposed.items():
        budget = Budget.objects.get(campaign_id=campaign_id)
        assert (budget.kind, budget.limit) == ("spend", amount)
    updates = AuditEvent.objects.filter(action="budget.updated", object_id__in=[str(strong.pk), str(weak.pk)])
    assert updates.count() == 2 + 1  # the fixture's budget_set for `strong`, then one per line
    assert (
        AuditEvent.objects.filter(action="budget_allocation.applied", object_id=str(data["id"])).count() == 1
    )
    again = crm_client.post(f"{URL}{data['id']}/apply/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "allocation_applied"


def test_apply_rolls_back_everything_when_a_budget_spent_past_its_line(crm_client, two_campaigns):
    strong, weak = two_campaigns
    data = crm_client.post(URL, {"total": "3000", "campaigns": [{"id": strong.pk}, {"id": weak.pk}]},
                           format="json").json()  # fmt: skip
    line = next(line for line in data["campaigns"] if line["id"] == strong.pk)
    budget_set(campaign_id=strong.pk, actor="user:ana", kind="spend", limit=Decimal(5000))
    assert budget_reserve(campaign_id=strong.pk, amount=Decimal(line["proposed"]) + 1, ref="spent-meanwhile")
    response = crm_client.post(f"{URL}{data['id']}/apply/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "budget_below_used"
    assert BudgetAllocation.objects.get(pk=data["id"]).status == "proposed"
    assert not Budget.objects.filter(campaign_id=weak.pk).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"campaigns": [{"id": 1}]}, "total"),
        ({"total": "0", "campaigns": [{"id": 1}]}, "total"),
        ({"total": "100", "campaigns": []}, "campaigns"),
        ({"total": "100"}, "campaigns"),
        ({"total": "100", "campaigns": [{"id": "x"}]}, "campaigns"),
        ({"total": "100", "campaigns": [{"id": 1, "min": "-1"}]}, "campaigns"),
        ({"total": "100", "horizon_days": 0, "campaigns": [{"id": 1}]}, "horizon_days"),
    ],
)
def test_malformed_requests_are_400(crm_client, body, field):
    response = crm_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_what_cannot_be_allocated_is_a_400_that_says_why(crm_client, two_campaigns):
    strong, weak = two_campaigns
    usd = CampaignFactory(currency="USD")
    counted = CampaignFactory()
    budget_set(campaign_id=counted.pk, actor="user:ana", kind="count", limit=Decimal(10))
    closed = CampaignFactory(status=Campaign.Status.COMPLETED)
    cases = [
        ({"total": "100", "campaigns": [{"id": strong.pk}, {"id": strong.pk}]}, "once"),
        ({"total": "100", "campaigns": [{"id": 999_999}]}, "No campaign 999999"),
        ({"total": "100", "campaigns": [{"id": strong.pk}, {"id": usd.pk}]}, "one currency"),
        ({"total": "100", "campaigns": [{"id": counted.pk}]}, "count budget"),
        ({"total": "100", "campaigns": [{"id": closed.pk}]}, "completed"),
        (
            {"total": "100", "campaigns": [{"id": strong.pk, "min": "60"}, {"id": weak.pk, "min": "50"}]},
            "minimums",
        ),
        (
            {"total": "100", "campaigns": [{"id": strong.pk, "max": "30"}, {"id": weak.pk, "max": "30"}]},
            "maximums",
        ),
        (
            {"total": "100", "campaigns": [{"id": strong.pk, "min": "50", "max": "40"}]},
            "at least the minimum",
        ),
        ({"total": "100.001", "campaigns": [{"id": strong.pk}]}, "decimals"),
    ]
    for body, words in cases:
        response = crm_client.post(URL, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert words in response.content.decode(), (words, response.content)
    assert not BudgetAllocation.objects.exists()


def test_a_fallback_campaign_is_low_confidence_and_its_line_says_why(crm_client, two_campaigns):
    strong, _weak = two_campaigns
    newcomer = CampaignFactory(name="Newcomer", status=Campaign.Status.ACTIVE)
    seed_curve(newcomer, a=500, b=50, days=3, seed=5)
    data = crm_client.post(URL, {"total": "2000", "campaigns": [{"id": strong.pk}, {"id": newcomer.pk, "max": "500"}]},
                           format="json").json()  # fmt: skip
    line = next(line for line in data["campaigns"] if line["id"] == newcomer.pk)
    assert (line["method"], line["confidence"], line["saturation_spend"]) == ("brand_average", "low", None)
    assert "3 days of history: the brand's average return" in line["rationale"]


def test_two_concurrent_applies_write_the_budgets_once(brands, db):
    """Released by one barrier on their own connections: exactly one apply wins, the other is a 409."""
    test_database = connection.settings_dict["NAME"]
    state: dict = {}

    def arrange():
        with schema_context("brand_a"):
            campaigns = [CampaignFactory(name=f"Race {i}", status=Campaign.Status.ACTIVE) for i in range(2)]
            for i, campaign in enumerate(campaigns):
                seed_curve(campaign, a=1000 * (i + 1), b=80, days=20, seed=i)
            allocation = budget_allocation_create(
                actor="user:ana", total=Decimal(2000), campaigns=[AllocationRequest(c.pk) for c in campaigns]
            )
            state["ids"] = [c.pk for c in campaigns]
            state["allocation_id"] = allocation.pk

    def clean_up():
        with schema_context("brand_a"):
            BudgetAllocation.objects.filter(pk=state.get("allocation_id")).delete()
            partners = list(
                Campaign.objects.filter(pk__in=state.get("ids", [])).values_list("partner_id", flat=True)
            )
            Campaign.objects.filter(pk__in=state.get("ids", [])).delete()
            Partner.objects.filter(pk__in=partners).delete()

    try:
        in_own_connection(test_database, arrange)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        errors: list[BaseException] = []

        def client() -> None:
            connections["default"].settings_dict["NAME"] = test_database
            try:
                with schema_context("brand_a"):
                    barrier.wait(timeout=30)
                    try:
                        budget_allocation_apply(actor="user:race", allocation_id=state["allocation_id"])
                        outcomes.append("applied")
                    except ConflictError as exc:
                        outcomes.append(exc.code)
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()
            finally:
                connections.close_all()

        threads = [threading.Thread(target=client) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert sorted(outcomes) == ["allocation_applied", "applied"]

        def outcome():
            with schema_context("brand_a"):
                return (
                    AuditEvent.objects.filter(
                        action="budget.updated",
                        actor="user:race",
                        object_id__in=[str(i) for i in state["ids"]],
                    ).count(),
                    AuditEvent.objects.filter(
                        action="budget_allocation.applied", object_id=str(state["allocation_id"])
                    ).count(),
                    sorted(
                        Budget.objects.filter(campaign_id__in=state["ids"]).values_list("kind", flat=True)
                    ),
                )

        assert in_own_connection(test_database, outcome) == (2, 1, ["spend", "spend"])
    finally:
        in_own_connection(test_database, clean_up)
