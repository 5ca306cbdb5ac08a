"""Preferences, suppressions, inbox APIs; the public unsubscribe page; anymail's tracking webhook."""

from __future__ import annotations

import base64
import json

from django.test import Client

from customers.models import Customer
from notifications.messages import message_deliver, message_send, unsubscribe_token
from notifications.models import Preference, Suppression
from tests.conftest import BRAND_A


def test_preferences_get_and_put(ingest_client, crm_client):
    url = "/api/v1/customers/c-1/preferences/"
    assert ingest_client.get(url).json() == {"customer_id": "c-1", "preferences": []}
    body = {
        "preferences": [
            {"channel": "email", "opted_in": False},
            {"channel": "sms", "topic": "offers", "opted_in": True},
        ]
    }
    response = ingest_client.put(url, body, format="json")
    assert response.status_code == 200, response.content
    got = crm_client.get(url).json()["preferences"]
    assert {(p["channel"], p["topic"], p["opted_in"]) for p in got} == {
        ("email", "", False),
        ("sms", "offers", True),
    }
    assert crm_client.put(url, body, format="json").status_code == 403  # consent is written by ingest


def test_preferences_bad_input_is_400_and_nothing_changes(ingest_client):
    url = "/api/v1/customers/c-1/preferences/"
    ingest_client.put(url, {"preferences": [{"channel": "email", "opted_in": False}]}, format="json")
    for bad in (
        {"preferences": [{"channel": "fax", "opted_in": True}]},
        {"preferences": [{"channel": "email", "opted_in": True}, {"channel": "email", "opted_in": False}]},
        {"preferences": "yes"},
        {},
    ):
        assert ingest_client.put(url, bad, format="json").status_code == 400, bad
    assert list(Preference.objects.values_list("channel", "opted_in")) == [("email", False)]


def test_suppressions_post_list_delete(crm_client):
    response = crm_client.post(
        "/api/v1/suppressions/", {"channel": "email", "address": " Bob@Example.com"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["address"] == "bob@example.com" and response.json()["reason"] == "manual"
    again = crm_client.post(
        "/api/v1/suppressions/", {"channel": "email", "address": "bob@example.com"}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    listed = crm_client.get("/api/v1/suppressions/?channel=email").json()
    assert [row["address"] for row in listed["results"]] == ["bob@example.com"]
    assert crm_client.delete(f"/api/v1/suppressions/{response.json()['id']}/").status_code == 204
    assert crm_client.delete(f"/api/v1/suppressions/{response.json()['id']}/").status_code == 404
    assert (
        crm_client.post(
            "/api/v1/suppressions/", {"channel": "fax", "address": "x"}, format="json"
        ).status_code
        == 400
    )
    assert (
        crm_client.post(
            "/api/v1/suppressions/", {"channel": "email", "address": " "}, format="json"
        ).status_code
        == 400
    )


def test_suppressions_need_crm(ingest_client):
    assert ingest_client.get("/api/v1/suppressions/").status_code == 403


def test_inbox_lists_in_app_messages_and_marks_them_read(ingest_client, brand_a):
    first = message_deliver(
        message_id=message_send(customer_id="c-1", channel="in_app", subject="Hi", body_text="B").pk
    )
    message_send(customer_id="c-2", channel="in_app", subject="Other customer")
    page = ingest_client.get("/api/v1/customers/c-1/inbox/").json()
    assert [(m["title"], m["read_at"]) for m in page["results"]] == [("Hi", None)]
    read = ingest_client.post(f"/api/v1/inbox/{first.pk}/read/")
    assert read.status_code == 200 and read.json()["read_at"]
    assert ingest_client.get("/api/v1/customers/c-1/inbox/?unread=true").json()["results"] == []
    assert ingest_client.post("/api/v1/inbox/00000000-0000-0000-0000-000000000000/read/").status_code == 404


def test_the_unsubscribe_page_get_shows_a_form_and_post_unsubscribes(brand_a):
    token = unsubscribe_token(customer_id="c-1", channel="email")
    client = Client(HTTP_HOST=BRAND_A.host, enforce_csrf_checks=True)
    page = client.get(f"/unsubscribe/{token}/")
    assert page.status_code == 200 and b'<form method="post">' in page.content
    assert not Preference.objects.exists()  # GET changes nothing (link scanners)
    done = client.post(f"/unsubscribe/{token}/")
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    assert Preference.objects.get(customer_id="c-1", channel="email").opted_in is False


def test_rfc8058_one_click_post(brand_a):
    token = unsubscribe_token(customer_id="c-9", channel="email")
    client = Client(HTTP_HOST=BRAND_A.host, enforce_csrf_checks=True)
    response = client.post(
        f"/unsubscribe/{token}/",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Preference.objects.get(customer_id="c-9").opted_in is False


def test_a_tampered_unsubscribe_token_is_404(brand_a):
    token = unsubscribe_token(customer_id="c-1", channel="email")
    client = Client(HTTP_HOST=BRAND_A.host)
    assert client.post(f"/unsubscribe/{token[:-2]}xx/").status_code == 404
    assert not Preference.objects.exists()


def test_anymail_tracking_webhook_turns_a_bounce_into_a_suppression(brand_a, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    Customer.objects.create(customer_id="c-1", email="ann@example.com")
    settings.MESSAGE_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    message = message_deliver(message_id=message_send(customer_id="c-1", channel="email", subject="x").pk)
    # Postmark's bounce webhook, through anymail's real view and its tracking signal.
    body = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": message.provider_message_id,
        "Email": "ann@example.com",
        "Description": "The server was unable to deliver your message",
        "Details": "550 5.1.1 no such user",
        "BouncedAt": "2026-06-01T12:00:00Z",
    }
    auth = base64.b64encode(b"user:pass").decode()
    response = Client(HTTP_HOST=BRAND_A.host).post(
        "/anymail/postmark/tracking/",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )
    assert response.status_code == 200, response.content
    assert Suppression.objects.get(channel="email", address="ann@example.com").reason == "hard_bounce"
    message.refresh_from_db()
    assert message.status == "dead" and message.last_error.startswith("bounced")
    assert (
        message_send(customer_id="c-1", channel="email", category="transactional").skip_reason == "suppressed"
    )
