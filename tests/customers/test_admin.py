"""Customers and segments in the brand admin (Django test client; the browser test drives the editor)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from core.models import AuditEvent
from customers.models import Customer, Segment
from customers.services import customers_upsert, events_ingest

HOST = "brand-a.localhost"


@pytest.fixture
def editor(brand_a) -> Client:
    user = get_user_model().objects.create_user("seg-editor", password="pw-12345678", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM editor"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


@pytest.fixture
def viewer(brand_a) -> Client:
    user = get_user_model().objects.create_user("seg-viewer", password="pw-12345678", is_staff=True)
    user.groups.add(Group.objects.get(name="CRM viewer"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def test_customer_page_shows_stats_events_and_segments(viewer):
    customers_upsert(
        bodies=[{"customer_id": "adm-1", "country": "ES", "attributes": {"tier": "gold"}}], actor="system"
    )
    events_ingest(
        bodies=[
            {
                "event_id": "adm-e1",
                "customer_id": "adm-1",
                "name": "view",
                "occurred_at": "2026-01-01T10:00:00Z",
            }
        ]
    )
    customer = Customer.objects.get(customer_id="adm-1")
    Segment.objects.create(name="Adm Spain", definition={"attr": "country", "op": "eq", "value": "ES"})
    Segment.objects.create(name="Adm France", definition={"attr": "country", "op": "eq", "value": "FR"})
    listing = viewer.get("/admin/customers/customer/?q=adm-1")
    assert listing.status_code == 200 and b"adm-1" in listing.content
    page = viewer.get(f"/admin/customers/customer/{customer.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode().lower()
    assert "adm spain" in html and "adm france" not in html
    assert "purchase statistics" in html and "adm-e1" in html and "gold" in html and "static segments" in html


def test_segment_editor_validates_and_saves_through_the_service(editor):
    bad = editor.post(
        "/admin/customers/segment/add/",
        {"name": "Adm seg", "kind": "dynamic", "definition": '{"attr": "country", "op": "gt", "value": 3}'},
    )
    assert bad.status_code == 200
    assert "the value for country must be text" in bad.content.decode()
    not_json = editor.post(
        "/admin/customers/segment/add/", {"name": "Adm seg", "kind": "dynamic", "definition": "{"}
    )
    assert "Not valid JSON" in not_json.content.decode()
    good = editor.post(
        "/admin/customers/segment/add/",
        {
            "name": "Adm seg",
            "kind": "dynamic",
            "definition": '{"attr": "country", "op": "eq", "value": "ES"}',
        },
    )
    assert good.status_code == 302, good.content.decode()[:2000]
    segment = Segment.objects.get(name="Adm seg")
    assert AuditEvent.objects.filter(
        action="segment.created", object_id=str(segment.pk), actor="user:seg-editor"
    ).exists()
    page = editor.get(f"/admin/customers/segment/{segment.pk}/change/")
    html = page.content.decode().lower()
    assert "viewed but didn" in html and "segment-estimate" in html and "members (first 20)" in html
    computed = editor.post(
        "/admin/customers/segment/", {"action": "compute", "_selected_action": [segment.pk]}
    )
    assert computed.status_code == 302
    assert AuditEvent.objects.filter(action="segment.compute_requested", object_id=str(segment.pk)).exists()


def test_static_segment_members_from_the_admin(editor):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = editor.post(
        "/admin/customers/segment/add/",
        {
            "name": "Adm static",
            "kind": "static",
            "definition": "",
            "members_csv": SimpleUploadedFile(
                "m.csv", b"customer_id\nadm-s1\nadm-s2\n", content_type="text/csv"
            ),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Segment.objects.get(name="Adm static").members.count() == 2
    bad = editor.post(
        "/admin/customers/segment/add/",
        {
            "name": "Adm static 2",
            "kind": "static",
            "definition": "",
            "members_csv": SimpleUploadedFile("m.csv", b"a,b\n", content_type="text/csv"),
        },
    )
    assert "row 1: one column only" in bad.content.decode()


def test_erase_action_and_viewers_cannot(editor, viewer):
    customers_upsert(bodies=[{"customer_id": "adm-erase", "email": "e@example.com"}], actor="system")
    customer = Customer.objects.get(customer_id="adm-erase")
    refused = viewer.post(
        "/admin/customers/customer/", {"action": "erase", "_selected_action": [customer.pk]}
    )
    customer.refresh_from_db()
    assert customer.erased_at is None and refused.status_code in (200, 302, 403)
    done = editor.post("/admin/customers/customer/", {"action": "erase", "_selected_action": [customer.pk]})
    assert done.status_code == 302
    customer.refresh_from_db()
    assert customer.erased_at is not None and customer.email == ""
