"""Ingestion API (SPEC §2): validation, idempotency, batch semantics, enqueueing through the outbox."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from outbox.models import OutboxMessage
from purchases.models import Purchase
from tests.purchases.conftest import purchase_body


def post(client, body, path="/api/v1/purchases/"):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_post_accepts_stores_and_enqueues_one_evaluation(ingest_client):
    body = purchase_body()
    response = post(ingest_client, body)
    assert response.status_code == 202, response.json()
    assert response.json() == {"external_id": body["external_id"], "status": "accepted"}
    purchase = Purchase.objects.get(external_id=body["external_id"])
    assert str(purchase.total) == "60.0000"
    assert purchase.items[0] == {"sku": "SKU-A", "category": "toys", "quantity": 2, "unit_price": "20.00"}
    assert purchase.items[1]["category"] is None
    assert purchase.evaluated_at is None
    (message,) = OutboxMessage.objects.filter(task_name="purchases.evaluate_batch")
    assert message.args == [[purchase.id]]


def test_numbers_are_read_exactly_never_as_floats(ingest_client):
    # 0.1 * 3 as floats is 0.30000000000000004: parsed as Decimal it is exactly 0.3.
    raw = (
        '{"external_id": "exact-1", "customer_id": "c", "channel": "ecommerce",'
        ' "purchased_at": "2026-11-20T10:00:00Z", "currency": "EUR",'
        ' "items": [{"sku": "S", "quantity": 3, "unit_price": 0.1}], "total": 0.3}'
    )
    response = ingest_client.post("/api/v1/purchases/", data=raw, content_type="application/json")
    assert response.status_code == 202, response.json()
    purchase = Purchase.objects.get(external_id="exact-1")
    assert str(purchase.total) == "0.3000"
    assert purchase.items[0]["unit_price"] == "0.10"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"external_id": ""}, "external_id"),
        ({"external_id": None}, "external_id"),
        ({"external_id": "x" * 201}, "external_id"),
        ({"customer_id": None}, "customer_id"),
        ({"customer_id": ["a"]}, "customer_id"),
        ({"customer_id": "nul\u0000byte"}, "customer_id"),
        ({"channel": "phone"}, "channel"),
        ({"channel": None}, "channel"),
        ({"purchased_at": "yesterday"}, "purchased_at"),
        ({"purchased_at": None}, "purchased_at"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": None}, "currency"),
        ({"items": []}, "items"),
        ({"items": None}, "items"),
        ({"items": "SKU-A"}, "items"),
        ({"items": ["SKU-A"]}, "items"),
        ({"items": [{"quantity": 1, "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A\u0000", "quantity": 1, "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 0, "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1.5, "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": "two", "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": True, "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": "9" * 5000, "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": "²", "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 10**7, "unit_price": "1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "1E+999999"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "1E-999999"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "-1"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "abc"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "NaN"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "Infinity"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "1.00001"}]}, "items"),
        ({"items": [{"sku": "A", "quantity": 1}]}, "items"),
        ({"total": "59.99"}, "total"),
        ({"total": "-1"}, "total"),
        ({"total": "lots"}, "total"),
    ],
)
def test_every_validation_error_is_a_400_naming_its_field(ingest_client, overrides, field):
    response = post(ingest_client, purchase_body(**overrides))
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not Purchase.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_item_errors_point_at_the_line_and_field(ingest_client):
    body = purchase_body(
        items=[
            {"sku": "A", "quantity": 1, "unit_price": "1"},
            {"sku": "B", "quantity": 0, "unit_price": "x"},
        ],
        total=None,
    )
    error = post(ingest_client, body).json()["error"]
    assert error["fields"]["items"][0] == {}
    assert set(error["fields"]["items"][1]) == {"quantity", "unit_price"}


def test_huge_json_numbers_are_400_not_500(ingest_client):
    raw = (
        '{"external_id": "huge", "customer_id": "c", "channel": "in_store",'
        ' "purchased_at": "2026-11-20T10:00:00Z", "currency": "EUR",'
        ' "items": [{"sku": "S", "quantity": 1E+999999, "unit_price": 1}]}'
    )
    response = ingest_client.post("/api/v1/purchases/", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert "items" in response.json()["error"]["fields"]
    raw = raw.replace("1E+999999", "9" * 5000)
    assert (
        ingest_client.post("/api/v1/purchases/", data=raw, content_type="application/json").status_code == 400
    )


def test_malformed_json_and_non_object_bodies_are_400(ingest_client):
    response = ingest_client.post("/api/v1/purchases/", data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    response = ingest_client.post(
        "/api/v1/purchases/", data='{"total": NaN}', content_type="application/json"
    )
    assert response.status_code == 400
    assert post(ingest_client, [1, 2]).status_code == 400


def test_total_is_optional_and_compared_exactly(ingest_client):
    assert post(ingest_client, purchase_body(total=None)).status_code == 202
    assert post(ingest_client, purchase_body(total=60)).status_code == 202
    assert post(ingest_client, purchase_body(total="60.0000")).status_code == 202


def test_naive_purchased_at_is_utc(ingest_client):
    body = purchase_body(purchased_at="2026-11-20T10:00:00")
    assert post(ingest_client, body).status_code == 202
    assert Purchase.objects.get().purchased_at.isoformat() == "2026-11-20T10:00:00+00:00"


def test_same_body_again_is_200_with_the_stored_purchase_and_not_enqueued_twice(ingest_client):
    body = purchase_body()
    assert post(ingest_client, body).status_code == 202
    # Same purchase, spelled differently (key order, number formats, total omitted): still the same.
    again = dict(reversed(list(body.items())))
    again["items"] = [dict(item, unit_price="20") for item in body["items"]]
    again.pop("total")
    response = post(ingest_client, again)
    assert response.status_code == 200, response.json()
    stored = response.json()
    assert stored["external_id"] == body["external_id"]
    assert stored["total"] == "60.00"
    assert stored["evaluations"] == [] and stored["dispatches"] == []
    assert Purchase.objects.count() == 1
    assert OutboxMessage.objects.filter(task_name="purchases.evaluate_batch").count() == 1


def test_same_external_id_with_a_different_body_is_409(ingest_client):
    body = purchase_body()
    assert post(ingest_client, body).status_code == 202
    response = post(ingest_client, dict(body, customer_id="someone-else"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert Purchase.objects.get().customer_id == "cust-1"


def test_roles(make_api_client, brand_a):
    body = purchase_body()
    assert post(make_api_client("brand_a", "crm"), body).status_code == 403
    assert make_api_client("brand_a", "crm").get("/api/v1/purchases/nope/").status_code == 404
    from rest_framework.test import APIClient

    anonymous = APIClient(HTTP_HOST="brand-a.localhost")
    assert post(anonymous, body).status_code == 401


# --- batch


def test_batch_mixes_accepted_duplicate_conflict_and_invalid_in_request_order(ingest_client):
    stored = purchase_body()
    assert post(ingest_client, stored).status_code == 202
    new_one, new_two = purchase_body(), purchase_body()
    batch = [
        new_one,
        stored,  # duplicate of a stored purchase
        dict(stored, customer_id="other"),  # conflict with a stored purchase
        purchase_body(channel="fax"),  # invalid
        new_two,
        dict(new_one),  # duplicate inside the batch
        dict(new_two, store_id="elsewhere"),  # conflict inside the batch
        "not an object",
    ]
    response = post(ingest_client, {"purchases": batch}, "/api/v1/purchases/batch/")
    assert response.status_code == 202, response.json()
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "accepted",
        "duplicate",
        "conflict",
        "invalid",
        "accepted",
        "duplicate",
        "conflict",
        "invalid",
    ]
    assert [r["external_id"] for r in results[:7]] == [
        new_one["external_id"],
        stored["external_id"],
        stored["external_id"],
        batch[3]["external_id"],
        new_two["external_id"],
        new_one["external_id"],
        new_two["external_id"],
    ]
    assert results[7]["external_id"] is None
    assert "channel" in results[3]["errors"]
    assert "external_id" in results[2]["errors"]
    assert "errors" not in results[0]
    assert Purchase.objects.count() == 3
    # One evaluation message for the whole request, with the two new purchases.
    messages = list(OutboxMessage.objects.filter(task_name="purchases.evaluate_batch").order_by("id"))
    assert len(messages) == 2
    new_ids = sorted(
        Purchase.objects.filter(external_id__in=[new_one["external_id"], new_two["external_id"]]).values_list(
            "id", flat=True
        )
    )
    assert messages[1].args == [new_ids]


def test_batch_of_1000_is_accepted_and_1001_is_413(ingest_client):
    purchases = [purchase_body() for _ in range(1000)]
    response = post(ingest_client, {"purchases": purchases}, "/api/v1/purchases/batch/")
    assert response.status_code == 202
    assert {r["status"] for r in response.json()["results"]} == {"accepted"}
    assert Purchase.objects.count() == 1000
    assert OutboxMessage.objects.filter(task_name="purchases.evaluate_batch").count() == 1

    response = post(ingest_client, {"purchases": [*purchases, purchase_body()]}, "/api/v1/purchases/batch/")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert Purchase.objects.count() == 1000


def test_batch_body_shape_errors(ingest_client):
    for body in ({}, {"purchases": "x"}, [purchase_body()]):
        response = post(ingest_client, body, "/api/v1/purchases/batch/")
        assert response.status_code == 400
        assert "purchases" in response.json()["error"]["fields"]
    response = post(ingest_client, {"purchases": []}, "/api/v1/purchases/batch/")
    assert response.status_code == 202 and response.json() == {"results": []}


def test_oversized_batch_body_is_413(ingest_client):
    with override_settings(MAX_REQUEST_BODY_BYTES=1000):
        response = post(
            ingest_client, {"purchases": [purchase_body() for _ in range(10)]}, "/api/v1/purchases/batch/"
        )
    assert response.status_code == 413


def test_external_ids_with_slashes_and_the_word_batch_can_be_read_back(ingest_client):
    for external_id in ("store-7/ticket/991", "batch"):
        assert post(ingest_client, purchase_body(external_id=external_id)).status_code == 202
    from urllib.parse import quote

    response = ingest_client.get(f"/api/v1/purchases/{quote('store-7/ticket/991', safe='')}/")
    assert response.status_code == 200 and response.json()["external_id"] == "store-7/ticket/991"
    response = ingest_client.get("/api/v1/purchases/batch/")
    assert response.status_code == 200 and response.json()["external_id"] == "batch"
