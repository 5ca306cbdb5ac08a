"""The fcm provider against a local FCM and a local OAuth token endpoint, with a locally generated key."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug import Request, Response

from notifications.models import DeviceToken
from notifications.services import notification_send

PROJECT = "demo-project"
SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fcm(httpserver, settings, tmp_path, private_key):
    """FCM_CREDENTIALS_FILE points its token_uri at the local server; FCM_BASE_URL too."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credentials = tmp_path / "service-account.json"
    credentials.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "key-1",
                "private_key": pem,
                "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": httpserver.url_for("/token"),
            }
        )
    )
    settings.NOTIFICATION_PROVIDER = "fcm"
    settings.FCM_CREDENTIALS_FILE = str(credentials)
    settings.FCM_BASE_URL = httpserver.url_for("/")

    public_key = private_key.public_key()
    token_requests = []

    def token_endpoint(request: Request) -> Response:
        assertion = request.form["assertion"]
        # The signature must verify with the service account's public key.
        claims = jwt.decode(assertion, public_key, algorithms=["RS256"], options={"verify_aud": False})
        token_requests.append(claims)
        body = {"access_token": "ya29.local", "expires_in": 3600, "token_type": "Bearer"}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(token_endpoint)
    httpserver.token_requests = token_requests
    return httpserver


def _sent_messages(server):
    return [json.loads(req.get_data()) for req, _ in server.log if req.path == SEND_PATH]


def test_fcm_sends_one_message_per_device_token_with_a_service_account_token(fcm, make_award):
    DeviceToken.objects.create(customer_id="cust-1", token="device-a", platform="android")
    DeviceToken.objects.create(customer_id="cust-1", token="device-b", platform="ios")
    DeviceToken.objects.create(customer_id="someone-else", token="device-z")
    seen_auth = []

    def send(request: Request) -> Response:
        seen_auth.append(request.headers["Authorization"])
        token = json.loads(request.get_data())["message"]["token"]
        return Response(
            json.dumps({"name": f"projects/{PROJECT}/messages/{token}"}), content_type="application/json"
        )

    fcm.expect_request(SEND_PATH, method="POST").respond_with_handler(send)
    notification = make_award().notification

    sent = notification_send(notification_id=notification.pk)

    assert sent.status == "sent", sent.last_error
    assert sorted(m["message"]["token"] for m in _sent_messages(fcm)) == ["device-a", "device-b"]
    message = _sent_messages(fcm)[0]["message"]
    assert message["notification"] == {"title": notification.title, "body": notification.body}
    assert message["data"]["notification_id"] == str(notification.pk)
    assert all(isinstance(v, str) for v in message["data"].values())
    assert seen_auth == ["Bearer ya29.local", "Bearer ya29.local"]
    assert fcm.token_requests[0]["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert fcm.token_requests[0]["iss"] == f"push@{PROJECT}.iam.gserviceaccount.com"
    assert sorted(sent.delivered_to) == ["device-a", "device-b"]
    assert f"projects/{PROJECT}/messages/device-a" in sent.provider_message_id


def test_an_unregistered_token_is_dropped_and_the_others_still_get_it(fcm, make_award):
    DeviceToken.objects.create(customer_id="cust-1", token="gone")
    DeviceToken.objects.create(customer_id="cust-1", token="alive")

    def send(request: Request) -> Response:
        if json.loads(request.get_data())["message"]["token"] == "gone":
            error = {
                "error": {
                    "code": 404,
                    "message": "Requested entity was not found.",
                    "status": "NOT_FOUND",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                            "errorCode": "UNREGISTERED",
                        }
                    ],
                }
            }
            return Response(json.dumps(error), status=404, content_type="application/json")
        return Response(json.dumps({"name": "projects/x/messages/1"}), content_type="application/json")

    fcm.expect_request(SEND_PATH).respond_with_handler(send)
    sent = notification_send(notification_id=make_award().notification.pk)
    assert sent.status == "sent"
    assert list(DeviceToken.objects.values_list("token", flat=True)) == ["alive"]


def test_a_partial_failure_retries_only_the_devices_not_yet_reached(fcm, make_award):
    DeviceToken.objects.create(customer_id="cust-1", token="first")
    DeviceToken.objects.create(customer_id="cust-1", token="second")
    outcomes = {"first": [200], "second": [503, 200]}

    def send(request: Request) -> Response:
        token = json.loads(request.get_data())["message"]["token"]
        status = outcomes[token].pop(0)
        return Response(json.dumps({"name": f"m/{token}"}), status=status, content_type="application/json")

    fcm.expect_request(SEND_PATH).respond_with_handler(send)
    notification = make_award().notification
    ordered = list(
        DeviceToken.objects.filter(customer_id="cust-1")
        .order_by("-updated_at")
        .values_list("token", flat=True)
    )
    assert ordered == ["second", "first"]
    # "second" goes first and fails: nothing delivered yet, retry later.
    first_try = notification_send(notification_id=notification.pk)
    assert first_try.status == "failed"
    from django.utils import timezone

    from notifications.models import Notification

    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    second_try = notification_send(notification_id=notification.pk)
    assert second_try.status == "sent"
    tokens_sent = [m["message"]["token"] for m in _sent_messages(fcm)]
    assert tokens_sent == ["second", "second", "first"]


def test_no_device_token_is_dead(fcm, make_award):
    sent = notification_send(notification_id=make_award().notification.pk)
    assert sent.status == "dead"
    assert "no registered device token" in sent.last_error


def test_fcm_5xx_is_retried(fcm, make_award):
    DeviceToken.objects.create(customer_id="cust-1", token="device-a")
    fcm.expect_request(SEND_PATH).respond_with_data("unavailable", status=503)
    assert notification_send(notification_id=make_award().notification.pk).status == "failed"


def test_a_token_endpoint_failure_is_retried(httpserver, fcm, make_award):
    DeviceToken.objects.create(customer_id="cust-1", token="device-a")
    httpserver.clear()
    httpserver.expect_request("/token").respond_with_data("nope", status=500)
    sent = notification_send(notification_id=make_award().notification.pk)
    assert sent.status == "failed"
    assert "credentials" in sent.last_error


def test_device_tokens_api(make_api_client, brand_a):
    client = make_api_client("brand_a", "ingest")
    url = "/api/v1/customers/cust-1/device-tokens/"
    assert client.post(url, {"token": "t-1", "platform": "android"}, format="json").status_code == 201
    assert client.post(url, {"token": "t-1"}, format="json").status_code == 200
    moved = client.post("/api/v1/customers/cust-2/device-tokens/", {"token": "t-1"}, format="json")
    assert moved.status_code == 200
    assert DeviceToken.objects.get(token="t-1").customer_id == "cust-2"
    assert client.post(url, {"token": ""}, format="json").status_code == 400
    assert client.delete("/api/v1/customers/cust-2/device-tokens/t-1/").status_code == 204
    assert not DeviceToken.objects.exists()
    assert make_api_client("brand_a", "crm").post(url, {"token": "x"}, format="json").status_code == 403


def test_fcm_sends_through_the_guarded_client(fcm, make_award, settings):
    """FCM_BASE_URL on a private address is refused unless NOTIFICATION_URL_ALLOW_PRIVATE; 3xx not followed."""
    DeviceToken.objects.create(customer_id="cust-1", token="device-a")
    fcm.expect_request(SEND_PATH).respond_with_response(
        Response("", status=301, headers={"Location": fcm.url_for("/moved")})
    )
    settings.NOTIFICATION_URL_ALLOW_PRIVATE = False
    refused = notification_send(notification_id=make_award().notification.pk)
    assert refused.status == "dead"
    assert "private or reserved address" in refused.last_error
    assert _sent_messages(fcm) == []

    settings.NOTIFICATION_URL_ALLOW_PRIVATE = True
    moved = notification_send(notification_id=make_award().notification.pk)
    assert moved.status == "dead"
    assert "redirect to" in moved.last_error and "not followed" in moved.last_error
    assert [request.path for request, _ in fcm.log if request.path != "/token"] == [SEND_PATH]
