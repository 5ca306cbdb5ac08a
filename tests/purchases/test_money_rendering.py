"""A purchase's amounts read the same in `GET /purchases/{id}/` and in the body sent to its partner.

The purchase is stored exactly (a unit price may be finer than its currency);
both renderings round half up to the currency's minor unit (core.money).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from campaigns.models import Campaign
from core.money import money_str
from dispatches.models import Dispatch
from dispatches.payload import dispatch_payload
from purchases.models import Evaluation, Purchase
from purchases.services import purchases_evaluate
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory
from tests.purchases.conftest import purchase_body

D = Decimal
CURRENCIES = ("EUR", "JPY", "BHD")


def _ingest(client, currency: str, lines: list[tuple[int, Decimal]]) -> Purchase:
    body = purchase_body(
        currency=currency,
        items=[
            {"sku": f"SKU-{n}", "quantity": quantity, "unit_price": str(price)}
            for n, (quantity, price) in enumerate(lines)
        ],
    )
    del body["total"]
    response = client.post("/api/v1/purchases/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.json()
    return Purchase.objects.get(external_id=body["external_id"])


def _api(client, purchase: Purchase, campaign: Campaign) -> tuple[str, str]:
    """(total, eligible_value for `campaign`) as `GET /purchases/{external_id}/` shows them."""
    response = client.get(f"/api/v1/purchases/{purchase.external_id}/")
    assert response.status_code == 200
    body = response.json()
    (evaluation,) = (e for e in body["evaluations"] if e["campaign_id"] == campaign.id)
    assert evaluation["eligible"] is True, evaluation
    return body["total"], evaluation["eligible_value"]


def _partner_body(purchase: Purchase, campaign: Campaign) -> dict[str, Any]:
    """The SPEC §5 body built from the stored rows, as a retry or the sweep sends it."""
    dispatch = Dispatch.objects.select_related("purchase", "campaign").get(
        purchase=purchase, campaign=campaign
    )
    evaluation = Evaluation.objects.get(purchase=purchase, campaign=campaign)
    return dispatch_payload(dispatch=dispatch, evaluation=evaluation, tenant=connection.schema_name)


def _price(last_digits: int, modulus: int):
    """Prices of 0.5 … 10,000 with 4 decimals whose last digits are fixed: ties of some currency."""
    return st.integers(5000 // modulus + 1, 10**8 // modulus).map(
        lambda k: D(k * modulus + last_digits).scaleb(-4)
    )


# At least 0.5, so every total rounds to a non-zero eligible value, hence a dispatch, in each currency.
PRICES = st.one_of(
    st.integers(5000, 10**8).map(lambda n: D(n).scaleb(-4)),
    _price(5, 10),  # x.xxx5: a tie in BHD
    _price(50, 100),  # x.xx50: a tie in EUR
    _price(5000, 10000),  # x.5000: a tie in JPY
)
LINES = st.lists(st.tuples(st.integers(1, 20), PRICES), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(currency=st.sampled_from(CURRENCIES), lines=LINES)
@example(currency="EUR", lines=[(1, D("0.125"))])
@example(currency="EUR", lines=[(2, D("0.0625"))])
@example(currency="JPY", lines=[(1, D("2.5"))])
@example(currency="BHD", lines=[(3, D("0.4115"))])
def test_the_api_and_the_partner_body_show_the_same_amounts(ingest_client, currency, lines):
    # Inactive partner: the evaluation creates the dispatch but sends nothing.
    # Examples share the test's transaction: one campaign per currency, made by the first that needs it.
    partner = PartnerFactory(slug="money-partner", is_active=False)
    campaign = Campaign.objects.filter(partner=partner, currency=currency).first() or CampaignFactory(
        partner=partner, currency=currency, min_purchase_value=D(0), status=Campaign.Status.ACTIVE
    )

    purchase = _ingest(ingest_client, currency, lines)
    purchases_evaluate(purchase_ids=[purchase.id])

    exact = sum((quantity * price for quantity, price in lines), D(0))
    purchase.refresh_from_db()
    assert purchase.total == exact  # stored exactly, extra decimals and all
    api_total, api_eligible_value = _api(ingest_client, purchase, campaign)
    sent = _partner_body(purchase, campaign)["purchase"]
    assert (sent["total"], sent["eligible_value"]) == (api_total, api_eligible_value)
    assert api_total == money_str(exact, currency)


@pytest.mark.parametrize(
    ("currency", "unit_price", "expected"),
    [("EUR", "0.125", "0.13"), ("JPY", "2.5", "3"), ("BHD", "1.2345", "1.235")],
)
def test_a_tie_reads_rounded_half_up_in_the_api_and_in_the_request_the_partner_receives(
    ingest_client, httpserver, currency, unit_price, expected
):
    partner = PartnerFactory(submission_url=httpserver.url_for("/submissions"), timeout_seconds=1)
    campaign = CampaignFactory(
        partner=partner, currency=currency, min_purchase_value=D(0), status=Campaign.Status.ACTIVE
    )
    httpserver.expect_request("/submissions", method="POST").respond_with_json({"ok": True})

    purchase = _ingest(ingest_client, currency, [(1, D(unit_price))])
    assert purchases_evaluate(purchase_ids=[purchase.id]).dispatch.sent == 1

    [(request, _)] = httpserver.log
    received = json.loads(request.data)["purchase"]
    assert (received["total"], received["eligible_value"]) == (expected, expected)
    assert _api(ingest_client, purchase, campaign) == (expected, expected)
    rebuilt = _partner_body(purchase, campaign)["purchase"]
    assert (rebuilt["total"], rebuilt["eligible_value"]) == (expected, expected)
    # Stored exactly; the unit price is returned as sent.
    purchase.refresh_from_db()
    assert purchase.total == D(unit_price)
    body = ingest_client.get(f"/api/v1/purchases/{purchase.external_id}/").json()
    assert body["items"][0]["unit_price"] == unit_price
