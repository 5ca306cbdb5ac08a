"""Customers and events ingestion (SPEC §11): upserts, events idempotent on event_id, stats, races."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal

from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import schema_context

from core.models import AuditEvent
from customers.models import Customer, CustomerStats, Event
from customers.services import customers_stats_refresh, customers_upsert, events_ingest
from outbox.models import OutboxMessage
from purchases.models import Purchase
from purchases.services import purchases_evaluate, purchases_ingest
from purchases.tasks import refresh_customer_stats_task
from tests.purchases.conftest import in_own_connection, purchase_body


def put(client, customer_id, body):
    return client.put(
        f"/api/v1/customers/{customer_id}/", data=json.dumps(body), content_type="application/json"
    )


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_put_creates_then_updates_and_merges_attributes(ingest_client, crm_client):
    response = put(
        ingest_client,
        "c-put",
        {
            "email": "Ana@Example.com",
            "phone": "+34600123456",
            "country": "es",
            "locale": "es_ES",
            "timezone": "Europe/Madrid",
            "lat": 40.4,
            "lon": -3.7,
            "attributes": {"tier": "gold", "age": 31},
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["customer_id"] == "c-put"
    assert body["email"] == "ana@example.com"
    assert body["country"] == "ES" and body["locale"] == "es-ES"
    assert body["stats"]["orders_total"] == 0 and body["stats"]["r"] is None

    response = put(ingest_client, "c-put", {"attributes": {"age": 32, "tier": None, "vip": True}})
    assert response.status_code == 200
    assert response.json()["attributes"] == {"age": 32, "vip": True}
    assert response.json()["email"] == "ana@example.com"  # fields not sent are kept

    detail = crm_client.get("/api/v1/customers/c-put/")
    assert detail.status_code == 200
    assert detail.json()["attributes"] == {"age": 32, "vip": True}
    customer = Customer.objects.get(customer_id="c-put")
    actions = list(
        AuditEvent.objects.filter(object_type="customers.customer", object_id=str(customer.pk)).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["customer.created", "customer.updated"]


def test_put_rejects_bad_fields_with_clear_messages(ingest_client):
    response = put(
        ingest_client,
        "c-bad",
        {
            "phone": "600123456",
            "country": "XX",
            "timezone": "Mars/Base",
            "email": "nope",
            "lat": 95,
            "lon": 0,
            "colour": "red",
            "attributes": [1],
        },
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) >= {"phone", "country", "timezone", "email", "lat", "colour", "attributes"}
    assert not Customer.objects.filter(customer_id="c-bad").exists()
    mismatch = put(ingest_client, "c-x", {"customer_id": "c-y"})
    assert mismatch.status_code == 400 and "customer_id" in mismatch.json()["error"]["fields"]


def test_roles(ingest_client, crm_client):
    put(ingest_client, "c-role", {})
    assert ingest_client.get("/api/v1/customers/c-role/").status_code == 403
    assert put(crm_client, "c-role", {}).status_code == 403
    assert crm_client.get("/api/v1/customers/nobody/").status_code == 404
    listing = crm_client.get("/api/v1/customers/?page_size=1")
    assert listing.status_code == 200 and listing.json()["count"] >= 1


def test_batch_upsert_reports_each_item_in_order(ingest_client):
    put(ingest_client, "c-old", {"country": "FR"})
    response = post(
        ingest_client,
        "/api/v1/customers/batch/",
        {
            "customers": [
                {"customer_id": "c-new", "country": "PT"},
                {"customer_id": "c-old", "country": "DE"},
                {"customer_id": "c-new", "locale": "pt-PT"},
                {"country": "ES"},
                "junk",
            ]
        },
    )
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "updated", "created", "invalid", "invalid"]
    assert "customer_id" in results[3]["errors"]
    new = Customer.objects.get(customer_id="c-new")
    assert (new.country, new.locale) == ("PT", "pt-PT")
    assert Customer.objects.get(customer_id="c-old").country == "DE"
    too_many = post(ingest_client, "/api/v1/customers/batch/", {"customers": [{"customer_id": "x"}] * 1001})
    assert too_many.status_code == 413


def test_new_customers_have_a_stable_bucket_and_a_stats_row(brand_a):
    customers_upsert(bodies=[{"customer_id": f"c-b{i}"} for i in range(50)], actor="system")
    buckets = dict(
        Customer.objects.filter(customer_id__startswith="c-b").values_list("customer_id", "bucket")
    )
    assert len(buckets) == 50 and all(0 <= b < 10_000 for b in buckets.values())
    assert len(set(buckets.values())) > 40  # random, not constant
    customers_upsert(bodies=[{"customer_id": "c-b1", "country": "ES"}], actor="system")
    assert Customer.objects.get(customer_id="c-b1").bucket == buckets["c-b1"]
    assert CustomerStats.objects.filter(customer__customer_id__startswith="c-b").count() == 50


def test_indexes_exist(brand_a):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'brand_a'")
        indexes = dict(cursor.fetchall())
    assert "USING gin (attributes)" in indexes["customer_attributes_gin"]
    assert "USING brin (occurred_at)" in indexes["event_occurred_brin"]
    assert "(bucket)" in indexes["customer_bucket_idx"]


def event(event_id, **overrides):
    body = {
        "event_id": event_id,
        "customer_id": "c-ev",
        "name": "view",
        "properties": {"sku": "A"},
        "occurred_at": timezone.now().isoformat(),
    }
    body.update(overrides)
    return body


def test_events_are_idempotent_on_event_id(ingest_client):
    first = post(ingest_client, "/api/v1/events/", event("e-1"))
    assert first.status_code == 202 and first.json() == {"event_id": "e-1", "status": "accepted"}
    again = post(ingest_client, "/api/v1/events/", event("e-1"))
    assert again.status_code == 200 and again.json() == {"event_id": "e-1", "status": "duplicate"}
    assert Event.objects.filter(event_id="e-1").count() == 1
    assert Customer.objects.filter(customer_id="c-ev").exists()  # created on first sight
    bad = post(ingest_client, "/api/v1/events/", event("e-2", occurred_at="yesterday"))
    assert bad.status_code == 400 and "occurred_at" in bad.json()["error"]["fields"]

    batch = post(
        ingest_client,
        "/api/v1/events/batch/",
        {
            "events": [
                event("e-1"),
                event("e-3"),
                event("e-3"),
                event("e-4", name=""),
                event("e-5", customer_id="c-ev2"),
            ]
        },
    )
    assert batch.status_code == 202
    assert [r["status"] for r in batch.json()["results"]] == [
        "duplicate",
        "accepted",
        "duplicate",
        "invalid",
        "accepted",
    ]
    assert Event.objects.filter(customer__customer_id__in=["c-ev", "c-ev2"]).count() == 3
    assert post(ingest_client, "/api/v1/events/batch/", {"events": [event("x")] * 1001}).status_code == 413


def test_a_purchase_creates_its_customer_and_the_evaluation_keeps_the_stats(brand_a):
    now = timezone.now()
    bodies = [
        purchase_body(customer_id="c-buyer", total="60.00"),
        purchase_body(customer_id="c-buyer", purchased_at=(now - timedelta(days=120)).isoformat()),
        purchase_body(customer_id="c-other"),
    ]
    results = purchases_ingest(bodies=bodies)
    assert Customer.objects.filter(customer_id__in=["c-buyer", "c-other"]).count() == 2
    purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    stats = CustomerStats.objects.get(customer__customer_id="c-buyer")
    assert stats.orders_total == 2 and stats.spend_total == Decimal("120")
    assert stats.orders_90d == 1 and stats.spend_90d == Decimal("60")
    assert stats.first_purchase_at < stats.last_purchase_at
    # A re-evaluation of the same purchases adds nothing (they are claimed once).
    purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    assert CustomerStats.objects.get(customer__customer_id="c-buyer").orders_total == 2


def test_the_stats_batch_is_one_statement(brand_a, django_assert_max_num_queries):
    results = purchases_ingest(bodies=[purchase_body(customer_id=f"c-many{i}") for i in range(30)])
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    stats_statements = [q for q in queries.captured_queries if "customers_customerstats" in q["sql"]]
    assert len(stats_statements) == 1
    assert (
        CustomerStats.objects.filter(customer__customer_id__startswith="c-many", orders_total=1).count() == 30
    )


def test_nightly_refresh_computes_rfm_quintiles(brand_a):
    now = timezone.now()
    bodies = []
    for i in range(10):
        for n in range(i + 1):
            bodies.append(
                purchase_body(
                    customer_id=f"c-rfm{i}",
                    total=f"{(i + 1) * 10}.00",
                    items=[{"sku": "S", "quantity": 1, "unit_price": f"{(i + 1) * 10}.00"}],
                    purchased_at=(now - timedelta(days=30 - i, minutes=n)).isoformat(),
                )
            )
    bodies.append(
        purchase_body(customer_id="c-rfm-old", purchased_at=(now - timedelta(days=200)).isoformat())
    )
    results = purchases_ingest(bodies=bodies)
    purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    # Age the window: the 90-day figures are recomputed from the purchases.
    CustomerStats.objects.filter(customer__customer_id="c-rfm-old").update(orders_90d=5)
    customers_stats_refresh(now=now, purchases_table=Purchase._meta.db_table)
    assert refresh_customer_stats_task() >= 10  # the nightly job, as beat runs it
    stats = {
        s.customer.customer_id: s
        for s in CustomerStats.objects.select_related("customer").filter(
            customer__customer_id__startswith="c-rfm"
        )
    }
    assert stats["c-rfm-old"].orders_90d == 0 and stats["c-rfm-old"].r is None
    assert (stats["c-rfm9"].r, stats["c-rfm9"].f, stats["c-rfm9"].m) == (5, 5, 5)
    assert (stats["c-rfm0"].r, stats["c-rfm0"].f, stats["c-rfm0"].m) == (1, 1, 1)
    assert stats["c-rfm0"].spend_90d == Decimal("10")


def test_two_batches_naming_the_same_new_customer_at_once_make_one_customer(brands, db):
    test_database = connection.settings_dict["NAME"]
    rounds = 6
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    ids = [f"c-race-{timezone.now().timestamp()}-{i}" for i in range(rounds)]

    def racer(kind: str) -> None:
        connections["default"].settings_dict["NAME"] = test_database
        try:
            with schema_context("brand_a"):
                for customer_id in ids:
                    barrier.wait(timeout=10)
                    if kind == "upsert":
                        customers_upsert(
                            bodies=[{"customer_id": customer_id, "country": "ES"}], actor="system"
                        )
                    elif kind == "events":
                        events_ingest(bodies=[event(f"{customer_id}-e", customer_id=customer_id)])
                    else:
                        purchases_ingest(bodies=[purchase_body(customer_id=customer_id)])
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    def counts():
        with schema_context("brand_a"):
            return (
                Customer.objects.filter(customer_id__in=ids).count(),
                CustomerStats.objects.filter(customer__customer_id__in=ids).count(),
            )

    def clean_up():
        with schema_context("brand_a"):
            purchase_ids = set(Purchase.objects.filter(customer_id__in=ids).values_list("id", flat=True))
            OutboxMessage.objects.filter(
                pk__in=[
                    m.pk
                    for m in OutboxMessage.objects.all()
                    if set(m.args[0] if m.args else []) & purchase_ids
                ]
            ).delete()
            Purchase.objects.filter(customer_id__in=ids).delete()
            Customer.objects.filter(customer_id__in=ids).delete()

    try:
        for pair in (("upsert", "purchase"), ("events", "upsert"), ("purchase", "purchase")):
            in_own_connection(test_database, clean_up)
            threads = [threading.Thread(target=racer, args=(kind,)) for kind in pair]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not errors, errors
            assert in_own_connection(test_database, counts) == (rounds, rounds), pair
    finally:
        in_own_connection(test_database, clean_up)
