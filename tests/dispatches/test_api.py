"""`GET /api/v1/dispatches/`, `GET /dispatches/{id}/`, `POST /dispatches/{id}/replay/` (crm)."""

from __future__ import annotations

import uuid

from django.utils import timezone
from django_tenants.utils import tenant_context

from dispatches.models import Dispatch, DispatchAttempt
from dispatches.services import dispatch_send_batch
from outbox.models import OutboxMessage
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory

URL = "/api/v1/dispatches/"


def _dead(partner, **kwargs) -> Dispatch:
    fields = {"status": "dead", "attempts": 1, "last_error": "HTTP 400: nope"} | kwargs
    return make_dispatch(partner=partner, **fields)


def test_list_shows_the_audit_fields_newest_first(crm_client, partner):
    older = make_dispatch(partner=partner)
    newer = _dead(partner)

    response = crm_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [str(newer.id), str(older.id)]
    row = body["results"][0]
    assert row == {
        "id": str(newer.id),
        "purchase_external_id": newer.purchase.external_id,
        "campaign_id": newer.campaign_id,
        "partner": "acme-rewards",
        "status": "dead",
        "attempts": 1,
        "next_attempt_at": None,
        "last_status_code": None,
        "last_error": "HTTP 400: nope",
        "created_at": row["created_at"],
        "sent_at": None,
        "replay_count": 0,
    }


def test_list_filters_by_status_campaign_and_partner(crm_client, partner):
    campaign = CampaignFactory(partner=partner, status="active")
    dead_in_campaign = _dead(partner, campaign=campaign)
    _dead(partner)
    make_dispatch(partner=partner, campaign=campaign)
    other_partner = PartnerFactory(slug="other-partner")
    make_dispatch(partner=other_partner)

    def ids(query: str) -> list[str]:
        response = crm_client.get(URL + query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert len(ids("?status=dead")) == 2
    assert ids(f"?status=dead&campaign={campaign.id}") == [str(dead_in_campaign.id)]
    assert len(ids(f"?campaign={campaign.id}")) == 2
    assert len(ids("?partner=other-partner")) == 1
    assert ids("?status=sent") == []


def test_a_bad_filter_is_a_400_in_the_error_shape(crm_client, partner):
    response = crm_client.get(URL + "?status=lost")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "status" in response.json()["error"]["fields"]
    assert crm_client.get(URL + "?campaign=abc").status_code == 400


def test_the_list_is_paginated(crm_client, partner):
    for _ in range(3):
        make_dispatch(partner=partner)
    body = crm_client.get(URL + "?page_size=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]


def test_detail_shows_the_attempts(crm_client, partner, httpserver):
    dispatch = make_dispatch(partner=partner)
    httpserver.expect_request("/submissions").respond_with_data("bad", status=400)
    dispatch_send_batch(dispatch_ids=[dispatch.id])

    response = crm_client.get(f"{URL}{dispatch.id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "dead"
    assert body["last_status_code"] == 400
    [attempt] = body["attempts_log"]
    assert attempt["number"] == 1
    assert attempt["outcome"] == "dead"
    assert attempt["status_code"] == 400
    assert attempt["error"] == "HTTP 400: bad"
    assert isinstance(attempt["latency_ms"], int)


def test_unknown_or_malformed_id_is_404(crm_client, partner):
    assert crm_client.get(f"{URL}{uuid.uuid4()}/").status_code == 404
    assert crm_client.get(f"{URL}not-a-uuid/").status_code == 404
    response = crm_client.post(f"{URL}{uuid.uuid4()}/replay/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_replay_a_dead_dispatch_then_it_is_sent(
    crm_client, partner, httpserver, django_capture_on_commit_callbacks
):
    dispatch = _dead(partner)
    httpserver.expect_request("/submissions").respond_with_data("ok")

    response = crm_client.post(f"{URL}{dispatch.id}/replay/")

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["replay_count"] == 1
    message = OutboxMessage.objects.get(task_name="partners.send_dispatches")
    assert message.args == [[str(dispatch.id)]]

    dispatch_send_batch(dispatch_ids=message.args[0])  # what the enqueued task does
    dispatch.refresh_from_db()
    assert dispatch.status == "sent"
    assert dispatch.attempts == 2  # numbering continues after the replay
    assert DispatchAttempt.objects.get(dispatch=dispatch).number == 2
    assert httpserver.log[0][0].headers["Idempotency-Key"] == str(dispatch.id)


def test_replay_gives_a_fresh_budget_of_max_attempts(crm_client, partner, httpserver):
    dispatch = _dead(partner, attempts=3)  # partner.max_attempts == 3: the budget was used
    httpserver.expect_request("/submissions").respond_with_data("down", status=503)
    crm_client.post(f"{URL}{dispatch.id}/replay/")

    dispatch_send_batch(dispatch_ids=[dispatch.id])
    dispatch.refresh_from_db()
    assert dispatch.status == "retrying"
    assert dispatch.attempts == 4


def test_replay_of_a_dispatch_that_is_not_dead_is_409(crm_client, partner):
    for status in ("pending", "retrying", "sent"):
        dispatch = make_dispatch(partner=partner, status=status, sent_at=timezone.now())
        response = crm_client.post(f"{URL}{dispatch.id}/replay/")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "dispatch_not_dead"
        dispatch.refresh_from_db()
        assert dispatch.status == status
    assert not OutboxMessage.objects.exists()


def test_the_ingest_role_is_refused(ingest_client, partner):
    dispatch = _dead(partner)
    assert ingest_client.get(URL).status_code == 403
    assert ingest_client.get(f"{URL}{dispatch.id}/").status_code == 403
    assert ingest_client.post(f"{URL}{dispatch.id}/replay/").status_code == 403
    dispatch.refresh_from_db()
    assert dispatch.status == "dead"


def test_no_key_is_401(tenant_client, partner):
    assert tenant_client.get(URL).status_code == 401


def test_another_brands_dispatch_is_404_on_brand_a(crm_client, brand_b, partner):
    with tenant_context(brand_b):
        other_partner = PartnerFactory(slug="b-partner")
        foreign = _dead(other_partner)

    assert crm_client.get(f"{URL}{foreign.id}/").status_code == 404
    assert crm_client.post(f"{URL}{foreign.id}/replay/").status_code == 404
    assert str(foreign.id) not in [row["id"] for row in crm_client.get(URL).json()["results"]]
    with tenant_context(brand_b):
        assert Dispatch.objects.get(pk=foreign.id).status == "dead"
