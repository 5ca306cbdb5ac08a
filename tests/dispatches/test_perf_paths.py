"""Code paths added for throughput (ADR 0004/0006 "Performance"): the partner client, the joined
evaluation lookup of the claim, and evaluations without database FK constraints."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import connection

from campaigns.models import Campaign
from core.http import client
from dispatches.claims import _eligible_evaluations, dispatch_claim
from dispatches.models import Dispatch
from dispatches.services import dispatch_send_batch
from purchases.models import Evaluation, Purchase
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.purchases.factories import EvaluationFactory, PurchaseFactory

SUBMISSIONS = "/submissions"


def test_each_dispatch_gets_the_evaluation_of_its_own_campaign(partner):
    """A purchase eligible for two campaigns: each dispatch's body carries its campaign's value."""
    purchase = PurchaseFactory()
    first = make_dispatch(partner=partner, purchase=purchase, eligible_value=Decimal("10.00"))
    second = make_dispatch(partner=partner, purchase=purchase, eligible_value=Decimal("20.00"))
    # An ineligible evaluation of a third campaign is never used.
    EvaluationFactory(
        purchase=purchase,
        campaign=CampaignFactory(partner=partner, status=Campaign.Status.ACTIVE),
        eligible=False,
        eligible_value=Decimal("0"),
        reason="below_minimum",
    )

    found = _eligible_evaluations([first.id, second.id])

    assert {key: e.eligible_value for key, e in found.items()} == {
        (purchase.id, first.campaign_id): Decimal("10.0000"),
        (purchase.id, second.campaign_id): Decimal("20.0000"),
    }
    claimed, _ = dispatch_claim(
        dispatch_ids=[first.id, second.id], claim_token=uuid.uuid4(), now=first.created_at
    )
    values = {c.dispatch_id: c.body for c in claimed}
    assert b'"eligible_value":"10.00"' in values[first.id]
    assert b'"eligible_value":"20.00"' in values[second.id]


def test_no_evaluation_lookup_without_dispatches():
    assert _eligible_evaluations([]) == {}


def test_a_url_without_http_scheme_is_an_invalid_request():
    response = client.submit(url="ftp://example.com/x", body=b"{}", headers={}, timeout_seconds=1)
    assert response.status_code is None
    assert response.failure == client.NetworkFailure.INVALID_REQUEST


def test_a_truncated_body_drops_the_connection_and_the_next_request_still_works(partner, httpserver):
    httpserver.expect_ordered_request(SUBMISSIONS).respond_with_data(b"x" * (client.RESPONSE_READ_CAP + 10))
    httpserver.expect_ordered_request(SUBMISSIONS).respond_with_data(b"ok", status=200)

    first = client.submit(url=partner.submission_url, body=b"{}", headers={}, timeout_seconds=2)
    second = client.submit(url=partner.submission_url, body=b"{}", headers={}, timeout_seconds=2)

    assert first.body_truncated and len(first.body_excerpt) == client.RESPONSE_READ_CAP
    assert second.status_code == 200 and second.body_excerpt == b"ok" and not second.body_truncated


def test_the_user_agent_and_the_signed_headers_are_sent(partner, httpserver):
    httpserver.expect_request(SUBMISSIONS).respond_with_data("ok")
    dispatch = make_dispatch(partner=partner)

    assert dispatch_send_batch(dispatch_ids=[dispatch.id]).sent == 1

    [(request, _)] = httpserver.log
    assert request.headers["User-Agent"] == client.USER_AGENT
    assert request.headers["Idempotency-Key"] == str(dispatch.id)
    assert request.headers["Content-Type"] == "application/json"


def _foreign_keys(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass", [table]
        )
        return [row[0] for row in cursor.fetchall()]


def test_evaluations_have_no_database_fk_but_orm_cascades_still_delete_them(partner):
    assert _foreign_keys(Evaluation._meta.db_table) == []
    purchase = PurchaseFactory()
    kept = EvaluationFactory(purchase=purchase)
    campaign = CampaignFactory(partner=partner, status=Campaign.Status.DRAFT)
    EvaluationFactory(purchase=purchase, campaign=campaign)

    campaign.delete()  # the ORM collector cascades (no database constraint needed)
    assert list(Evaluation.objects.filter(purchase=purchase)) == [kept]

    Purchase.objects.filter(pk=purchase.pk).delete()
    assert not Evaluation.objects.filter(purchase_id=purchase.pk).exists()
    # Dispatches keep their database constraints (few rows, and they are the outbound record).
    assert _foreign_keys(Dispatch._meta.db_table)
