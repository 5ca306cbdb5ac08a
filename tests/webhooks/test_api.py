"""SPEC §15's endpoints, from the outside."""

from __future__ import annotations

from django.db import transaction
from standardwebhooks import Webhook

from outbox import events
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_fan_out_and_send

BASE = "/api/v1/webhooks/"


def _create(client, receiver, **body):
    payload = {"url": receiver.url_for("/hooks"), "event_types": ["award.created", "dispatch.dead"], **body}
    return client.post(BASE, payload, format="json")


def test_create_shows_the_secret_once(crm_client, receiver):
    response = _create(crm_client, receiver, description="CRM sync")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["dispatch.dead", "award.created"]  # in SPEC §15 order
    assert body["is_enabled"] is True and body["failing_since"] is None
    listed = crm_client.get(BASE).json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert body["secret"] not in str(listed)
    detail = crm_client.get(f"{BASE}{body['id']}/").json()
    assert "secret" not in detail


def test_a_private_address_is_refused_with_400(crm_client, receiver, settings):
    settings.WEBHOOK_URL_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8000/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "ftp://example.com/hooks",
    ):
        response = crm_client.post(BASE, {"url": url, "event_types": ["award.created"]}, format="json")
        assert response.status_code == 400, (url, response.content)
        assert "url" in response.json()["error"]["fields"], url
    assert not WebhookEndpoint.objects.exists()
    # PATCH to a private address too.
    settings.WEBHOOK_URL_ALLOW_PRIVATE = True
    endpoint_id = _create(crm_client, receiver).json()["id"]
    settings.WEBHOOK_URL_ALLOW_PRIVATE = False
    response = crm_client.patch(f"{BASE}{endpoint_id}/", {"url": "http://192.168.0.10/x"}, format="json")
    assert response.status_code == 400
    assert WebhookEndpoint.objects.get().url == receiver.url_for("/hooks")


def test_event_types_are_checked(crm_client, receiver):
    for event_types in ([], ["purchase.created"], "award.created", ["webhook.test"]):
        response = _create(crm_client, receiver, event_types=event_types)
        assert response.status_code == 400, event_types
        assert "event_types" in response.json()["error"]["fields"]


def test_patch_and_delete(crm_client, receiver):
    endpoint_id = _create(crm_client, receiver).json()["id"]
    response = crm_client.patch(
        f"{BASE}{endpoint_id}/", {"event_types": ["segment.computed"], "is_enabled": False}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["event_types"] == ["segment.computed"]
    assert response.json()["is_enabled"] is False and response.json()["disabled_reason"] == "manual"
    assert "segment.computed" not in events.subscribed_event_types()
    response = crm_client.patch(f"{BASE}{endpoint_id}/", {"is_enabled": True}, format="json")
    assert response.json()["disabled_reason"] == ""
    assert "segment.computed" in events.subscribed_event_types()
    assert crm_client.delete(f"{BASE}{endpoint_id}/").status_code == 204
    assert crm_client.get(f"{BASE}{endpoint_id}/").status_code == 404
    assert events.subscribed_event_types() == frozenset()


def test_test_send_answers_status_and_latency(crm_client, receiver):
    created = _create(crm_client, receiver).json()
    receiver.expect_oneshot_request("/hooks").respond_with_data("ok")
    response = crm_client.post(f"{BASE}{created['id']}/test/")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["status_code"] == 200 and body["latency_ms"] >= 0
    [(request, _)] = receiver.log
    payload = Webhook(created["secret"]).verify(request.get_data(), dict(request.headers))
    assert payload["type"] == "webhook.test"

    receiver.expect_request("/hooks").respond_with_data("nope", status=500)
    body = crm_client.post(f"{BASE}{created['id']}/test/").json()
    assert body["ok"] is False and body["status_code"] == 500 and "HTTP 500" in body["error"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.failing_since is None  # a test never counts as the endpoint failing
    test_delivery = WebhookDelivery.objects.get(pk=body["delivery_id"])
    assert test_delivery.status == "dead" and test_delivery.attempts == 1 and test_delivery.is_test


def test_rotate_secret_returns_the_new_secret_once(crm_client, receiver):
    created = _create(crm_client, receiver).json()
    response = crm_client.post(f"{BASE}{created['id']}/rotate-secret/")
    assert response.status_code == 200
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["previous_secret_expires_at"]
    assert body["secret"] not in str(crm_client.get(f"{BASE}{created['id']}/").json())


def test_deliveries_list_and_replay(crm_client, receiver):
    created = _create(crm_client, receiver).json()
    receiver.expect_request("/hooks").respond_with_data("gone", status=400)
    with transaction.atomic():
        events.emit(events.EventType.DISPATCH_DEAD, {"dispatch_id": "d-1"})
    webhook_fan_out_and_send()
    listed = crm_client.get(f"{BASE}{created['id']}/deliveries/").json()
    [delivery] = listed["results"]
    assert delivery["event_type"] == "dispatch.dead" and delivery["status"] == "failed"
    assert delivery["attempts_log"][0]["status_code"] == 400
    assert delivery["attempts_log"][0]["outcome"] == "retry"
    assert crm_client.get(f"{BASE}{created['id']}/deliveries/?status=sent").json()["results"] == []
    assert crm_client.get(f"{BASE}{created['id']}/deliveries/?status=bogus").status_code == 400

    replay = f"/api/v1/webhook-deliveries/{delivery['id']}/replay/"
    assert crm_client.post(replay).status_code == 409  # still being delivered
    WebhookDelivery.objects.filter(pk=delivery["id"]).update(status="dead")
    response = crm_client.post(replay)
    assert response.status_code == 200 and response.json()["status"] == "queued"
    assert (
        crm_client.post("/api/v1/webhook-deliveries/00000000-0000-0000-0000-000000000000/replay/").status_code
        == 404
    )


def test_ingest_keys_and_no_key_are_refused(make_api_client, tenant_client, receiver):
    ingest = make_api_client("brand_a", "ingest")
    assert _create(ingest, receiver).status_code == 403
    assert tenant_client.get(BASE).status_code == 401
