"""Privacy (SPEC §11): export everything, erase with a salted-hash pseudonym; the audit adds up."""

from __future__ import annotations

import json
from decimal import Decimal

from django.utils import timezone

from campaigns.models import Campaign
from core.models import AuditEvent
from customers.models import Customer, CustomerStats, Event, SegmentMember
from customers.privacy import customer_id_holders, pseudonym
from customers.services import customers_upsert, events_ingest, segment_create, segment_members_import_csv
from purchases.models import Purchase
from purchases.services import purchases_evaluate, purchases_ingest
from tests.campaigns.factories import CampaignFactory
from tests.purchases.conftest import purchase_body


def test_the_apps_that_hold_customer_ids_are_found():
    assert [m._meta.label_lower for m in customer_id_holders()] == [
        "analytics.conversion",
        "awards.award",
        "campaigns.customerrewardcount",
        "experiments.assignment",
        "experiments.exposure",
        "journeys.enrollment",
        "notifications.devicetoken",
        "notifications.message",
        "notifications.notification",
        "notifications.preference",
        "partners.participationtoken",
        "promotions.customercodeusage",
        "promotions.redemption",
        "purchases.purchase",
    ]


def _customer_with_history():
    customers_upsert(
        bodies=[
            {
                "customer_id": "priv-1",
                "email": "p@example.com",
                "phone": "+34600111222",
                "country": "ES",
                "attributes": {"tier": "gold"},
            }
        ],
        actor="system",
    )
    events_ingest(
        bodies=[
            {
                "event_id": "priv-e1",
                "customer_id": "priv-1",
                "name": "view",
                "occurred_at": "2026-01-01T10:00:00Z",
            }
        ]
    )
    segment = segment_create(name="Privacy list", kind="static", actor="system")
    segment_members_import_csv(segment_id=segment.pk, content="priv-1\n", actor="system")
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE, min_purchase_value=Decimal("10"), partner=None)
    results = purchases_ingest(
        bodies=[purchase_body(external_id=f"priv-p{i}", customer_id="priv-1") for i in range(2)]
    )
    purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    return campaign


def test_export_holds_everything(crm_client):
    _customer_with_history()
    response = crm_client.get("/api/v1/customers/priv-1/export/")
    assert response.status_code == 200
    body = response.json()
    assert body["customer"]["email"] == "p@example.com" and body["customer"]["stats"]["orders_total"] == 2
    assert [e["event_id"] for e in body["events"]] == ["priv-e1"]
    assert body["segments"] == ["Privacy list"]
    purchases = body["records"]["purchases.purchase"]
    assert sorted(p["external_id"] for p in purchases) == ["priv-p0", "priv-p1"]
    assert purchases[0]["evaluations"][0]["eligible"] is True
    assert crm_client.get("/api/v1/customers/nobody/export/").status_code == 404


def test_erase_keeps_the_campaign_figures(crm_client, ingest_client):
    campaign = _customer_with_history()
    before = crm_client.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    customer = Customer.objects.get(customer_id="priv-1")

    response = crm_client.delete("/api/v1/customers/priv-1/")
    assert response.status_code == 204
    alias = pseudonym(schema="brand_a", customer_id="priv-1")
    assert alias.startswith("erased-") and "priv-1" not in alias

    customer.refresh_from_db()
    assert customer.customer_id == alias and customer.erased_at is not None
    assert (customer.email, customer.phone, customer.country, customer.attributes) == ("", "", "", {})
    assert not Event.objects.filter(customer=customer).exists()
    assert not SegmentMember.objects.filter(customer=customer).exists()
    assert CustomerStats.objects.get(customer=customer).orders_total == 2
    assert set(
        Purchase.objects.filter(external_id__startswith="priv-p").values_list("customer_id", flat=True)
    ) == {alias}
    assert not Purchase.objects.filter(customer_id="priv-1").exists()
    # The purchases still add up in the campaign's stats.
    assert crm_client.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json() == before
    assert before["evaluated"] == 2 and before["eligible"] == 2
    # One audit event, which never names the erased id.
    (event,) = AuditEvent.objects.filter(action="customer.erased", object_id=str(customer.pk))
    assert event.changes["customer_id"] == {"before": "[redacted]", "after": alias}
    assert "priv-1" not in json.dumps(event.changes) and "p@example.com" not in json.dumps(event.changes)
    # Gone: a second erase is 404, and the id is free for a new customer.
    assert crm_client.delete("/api/v1/customers/priv-1/").status_code == 404
    assert crm_client.get("/api/v1/customers/priv-1/").status_code == 404
    assert (
        ingest_client.put("/api/v1/customers/priv-1/", data="{}", content_type="application/json").status_code
        == 201
    )


def test_erase_needs_the_crm_role(ingest_client):
    customers_upsert(bodies=[{"customer_id": "priv-2"}], actor="system")
    assert ingest_client.delete("/api/v1/customers/priv-2/").status_code == 403
    assert Customer.objects.filter(customer_id="priv-2").exists()


def test_an_id_erased_twice_keeps_one_pseudonymous_customer(brand_a, crm_client):
    from customers.services import customer_erase

    results = purchases_ingest(bodies=[purchase_body(external_id="twice-1", customer_id="priv-twice")])
    purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    first = customer_erase(customer_id="priv-twice", actor="system")
    results = purchases_ingest(bodies=[purchase_body(external_id="twice-2", customer_id="priv-twice")])
    purchases_evaluate(purchase_ids=[r.purchase_id for r in results])
    second = customer_erase(customer_id="priv-twice", actor="system")
    assert first.pseudonym == second.pseudonym
    (customer,) = Customer.objects.filter(customer_id=first.pseudonym)
    assert CustomerStats.objects.get(customer=customer).orders_total == 2
    assert not Customer.objects.filter(customer_id="priv-twice").exists()
    assert set(
        Purchase.objects.filter(external_id__startswith="twice-").values_list("customer_id", flat=True)
    ) == {first.pseudonym}


def test_erase_reaches_the_addresses_and_texts_kept_beside_the_id(brand_a):
    from customers.services import customer_erase
    from notifications.models import DeviceToken, Message, Suppression
    from outbox.models import DomainEvent

    customers_upsert(bodies=[{"customer_id": "priv-m", "email": "m@example.com"}], actor="system")
    sent = Message.objects.create(
        customer_id="priv-m",
        channel="email",
        address="m@example.com",
        subject="Hi Maria",
        body_text="Dear Maria",
        body_html="<p>Dear Maria</p>",
        status="sent",
    )
    waiting = Message.objects.create(
        customer_id="priv-m",
        channel="push",
        address="priv-m",
        subject="Hi",
        body_text="Maria, 10 %",
        status="deferred",
        skip_reason="quiet_hours",
        next_attempt_at=timezone.now(),
    )
    other = Message.objects.create(
        customer_id="priv-other", channel="push", address="priv-other", body_text="x"
    )
    DeviceToken.objects.create(customer_id="priv-m", token="fcm-token-of-maria")
    Suppression.objects.create(channel="email", address="m@example.com", reason="bounce")
    event = DomainEvent.objects.create(
        event_type="purchase.evaluated", data={"customer_id": "priv-m", "n": 1}, occurred_at=timezone.now()
    )
    untouched = DomainEvent.objects.create(
        event_type="purchase.evaluated", data={"customer_id": "priv-other"}, occurred_at=timezone.now()
    )

    erasure = customer_erase(customer_id="priv-m", actor="system")

    alias = erasure.pseudonym
    sent.refresh_from_db()
    waiting.refresh_from_db()
    assert (sent.customer_id, sent.address, sent.subject, sent.body_text, sent.body_html) == (
        alias,
        "",
        "",
        "",
        "",
    )
    assert sent.status == "sent"  # counted as sent still, in the campaign's metrics
    assert (waiting.address, waiting.body_text, waiting.status, waiting.skip_reason) == (
        "",
        "",
        "skipped",
        "no_address",
    )
    assert waiting.next_attempt_at is None
    other.refresh_from_db()
    assert (other.address, other.body_text) == ("priv-other", "x")
    assert not DeviceToken.objects.filter(token="fcm-token-of-maria").exists()
    assert Suppression.objects.filter(address="m@example.com").exists()  # it still receives nothing
    event.refresh_from_db()
    untouched.refresh_from_db()
    assert event.data == {"customer_id": alias, "n": 1} and untouched.data == {"customer_id": "priv-other"}
    assert (
        erasure.scrubbed["notifications.message"] == 2 and erasure.scrubbed["notifications.devicetoken"] == 1
    )
    assert erasure.replaced["outbox.domainevent"] == 1
    (audit,) = AuditEvent.objects.filter(action="customer.erased")
    assert audit.changes["notifications.message personal data"] == {"before": 2, "after": "2 scrubbed"}
    assert "priv-m" not in json.dumps(audit.changes) and "Maria" not in json.dumps(audit.changes)
