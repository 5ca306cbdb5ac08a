"""Retention cohorts by first purchase week (SPEC §16), hand-computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.purchases.factories import PurchaseFactory

pytestmark = pytest.mark.django_db


def test_cohort_retention_by_week(brand_a, crm_client):
    today = timezone.now().astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    w0 = monday - timedelta(weeks=4)

    def buy(customer_id, week, day=1):
        at = datetime.combine(w0 + timedelta(weeks=week, days=day), datetime.min.time(), tzinfo=UTC)
        PurchaseFactory(customer_id=customer_id, purchased_at=at + timedelta(hours=10))

    buy("a", 0), buy("a", 1), buy("a", 1, day=3), buy("a", 3)
    buy("b", 0, day=2), buy("b", 1)
    buy("c", 1)  # next cohort: first purchase in week 1
    response = crm_client.get(f"/api/v1/reports/cohorts/?by=first_purchase_week&periods=8&from={w0}")
    assert response.status_code == 200
    cohorts = response.json()["cohorts"]
    assert cohorts[0] == {
        "cohort": w0.isoformat(),
        "size": 2,
        "retention": [1.0, 0.0, 0.5, 0.0, None, None, None, None],
    }
    assert cohorts[1]["cohort"] == (w0 + timedelta(weeks=1)).isoformat() and cohorts[1]["size"] == 1
    assert cohorts[1]["retention"][:3] == [0.0, 0.0, 0.0] and cohorts[1]["retention"][3] is None


@pytest.mark.parametrize("query", ["by=last_purchase", "periods=0", "periods=99", "periods=x", "from=nope"])
def test_bad_cohort_queries_are_400(brand_a, crm_client, query):
    assert crm_client.get(f"/api/v1/reports/cohorts/?{query}").status_code == 400
