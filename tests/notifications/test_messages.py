"""Messages (SPEC §14): the gate under the customer's lock, deferral and pick-up, delivery per channel."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection
from standardwebhooks import Webhook
from werkzeug import Response

from core import task_names
from customers.models import Customer
from notifications.channels import sms_segments
from notifications.messages import (
    message_deliver,
    message_send,
    messages_enqueue_due,
    suppression_add,
    tracking_event_record,
    unsubscribe,
)
from notifications.models import FrequencyRule, Message, MessagingSettings, Preference, Suppression
from outbox.models import OutboxMessage
from tests.partners.factories import make_whsec
from tests.support.committed import in_committed_connection

RACE_CUSTOMER = "race-customer"


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"to": list(envelope.rcpt_tos), "data": envelope.content.decode()})
        return "250 OK"


@pytest.fixture
def smtp_sink(settings) -> Iterator[SmtpSink]:
    sink = SmtpSink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MESSAGE_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def customer(brand_a) -> Customer:
    return Customer.objects.create(customer_id="c-1", email="Ann@Example.com", phone="+4915112345678")


def test_a_marketing_email_reaches_smtp_with_the_one_click_unsubscribe_headers(customer, smtp_sink):
    message = message_send(
        customer_id="c-1", channel="email", subject="Hello", body_text="Hi Ann", body_html="<p>Hi</p>"
    )
    assert message.status == "queued"
    assert OutboxMessage.objects.filter(task_name=task_names.SEND_MESSAGE, args=[str(message.pk)]).exists()
    message = message_deliver(message_id=message.pk)
    assert message.status == "sent"
    [received] = smtp_sink.messages
    assert received["to"] == ["ann@example.com"]
    parsed = email.message_from_string(received["data"])
    assert parsed["Subject"] == "Hello"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = "".join(parsed["List-Unsubscribe"].split()).strip("<>")  # folded header
    assert url.startswith("https://brand-a.localhost/unsubscribe/")
    assert message.provider_message_id and message.provider_message_id in parsed["Message-ID"]
    # The link's token unsubscribes this customer from email.
    unsubscribe(token=url.rstrip("/").rsplit("/", 1)[1])
    assert Preference.objects.get(customer_id="c-1", channel="email", topic="").opted_in is False
    assert message_send(customer_id="c-1", channel="email", subject="Again").skip_reason == "unsubscribed"


def test_a_transactional_email_has_no_unsubscribe_header(customer, smtp_sink):
    message = message_send(customer_id="c-1", channel="email", category="transactional", subject="Receipt")
    message_deliver(message_id=message.pk)
    parsed = email.message_from_string(smtp_sink.messages[0]["data"])
    assert parsed["List-Unsubscribe"] is None


def test_an_smtp_server_refusing_for_now_is_retried_and_a_permanent_refusal_is_dead(customer, settings):
    settings.MESSAGE_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", probe.getsockname()[1]  # nobody listens
    message = message_deliver(message_id=message_send(customer_id="c-1", channel="email", subject="x").pk)
    assert (message.status, message.attempts) == ("failed", 1)
    assert message.next_attempt_at is not None and message.last_error.startswith("SMTP")


def test_suppressed_address_gets_nothing_not_even_transactional(customer):
    suppression_add(channel="email", address=" ANN@example.com", actor="system")
    for category in ("marketing", "transactional"):
        message = message_send(customer_id="c-1", channel="email", category=category, subject="x")
        assert (message.status, message.skip_reason) == ("skipped", "suppressed")
    assert not OutboxMessage.objects.filter(task_name=task_names.SEND_MESSAGE).exists()


def test_no_address_and_unknown_customer(brand_a):
    Customer.objects.create(customer_id="c-2", email="")
    assert message_send(customer_id="c-2", channel="email").skip_reason == "no_address"
    assert message_send(customer_id="nobody", channel="sms").skip_reason == "no_address"


def test_quiet_hours_defer_and_the_sweep_sends_when_the_window_opens(customer, brand_a):
    customer.timezone = "Europe/Berlin"
    customer.save()
    MessagingSettings.objects.create(quiet_hours_enabled=True, quiet_start=time(22, 0), quiet_end=time(8, 0))
    # 23:30 in Berlin on the night the clocks go forward (28→29 March 2026).
    with time_machine.travel(datetime(2026, 3, 28, 22, 30, tzinfo=UTC), tick=False):
        message = message_send(customer_id="c-1", channel="sms", body_text="Sale!")
        assert (message.status, message.skip_reason) == ("deferred", "quiet_hours")
        assert message.next_attempt_at == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST
        assert messages_enqueue_due() == 0
    with time_machine.travel(datetime(2026, 3, 29, 5, 59, tzinfo=UTC), tick=False):
        messages_enqueue_due()
        message.refresh_from_db()
        assert message.status == "deferred"
    with time_machine.travel(datetime(2026, 3, 29, 6, 0, 1, tzinfo=UTC), tick=False):
        messages_enqueue_due()
        message.refresh_from_db()
        assert (message.status, message.skip_reason) == ("queued", "")
        assert message_deliver(message_id=message.pk).status == "sent"


def test_the_brand_timezone_is_the_fallback(customer, brand_a, settings):
    MessagingSettings.objects.create(quiet_hours_enabled=True, quiet_start=time(22, 0), quiet_end=time(8, 0))
    # brand_a's timezone (default UTC unless set): 23:00 UTC is quiet.
    tz = connection.tenant.timezone or "UTC"
    assert tz
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        assert message_send(customer_id="c-1", channel="sms").status == "queued"


def test_a_cap_defers_when_the_message_says_so_and_transactional_bypasses_it(customer):
    FrequencyRule.objects.create(name="1 sms a day", channel="sms", max_messages=1, window_hours=24)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert message_send(customer_id="c-1", channel="sms", now=now).status == "queued"
    assert message_send(customer_id="c-1", channel="sms", now=now).skip_reason == "frequency_capped"
    deferred = message_send(customer_id="c-1", channel="sms", now=now, defer_when_capped=True)
    assert (deferred.status, deferred.next_attempt_at) == ("deferred", now + timedelta(hours=24))
    assert message_send(customer_id="c-1", channel="email", now=now).status == "queued"
    assert (
        message_send(customer_id="c-1", channel="sms", category="transactional", now=now).status == "queued"
    )


def test_sms_segments():
    assert sms_segments("a" * 160) == ("gsm7", 1)
    assert sms_segments("a" * 161) == ("gsm7", 2)
    assert sms_segments("€" * 80) == ("gsm7", 1)  # extension characters count twice
    assert sms_segments("€" * 81) == ("gsm7", 2)
    assert sms_segments("ü" * 160) == ("gsm7", 1)
    assert sms_segments("é" * 70 + "ł") == ("ucs2", 2)
    assert sms_segments("😀" * 35) == ("ucs2", 1)  # a surrogate pair is two UTF-16 units


def test_sms_through_the_signed_webhook(customer, httpserver, settings):
    secret = make_whsec()
    settings.SMS_PROVIDER, settings.SMS_WEBHOOK_URL, settings.SMS_WEBHOOK_SECRET = (
        "webhook",
        httpserver.url_for("/sms"),
        secret,
    )
    settings.NOTIFICATION_URL_ALLOW_PRIVATE = True
    httpserver.expect_request("/sms", method="POST").respond_with_json({"id": "gw-1"})
    message = message_deliver(message_id=message_send(customer_id="c-1", channel="sms", body_text="Hi €").pk)
    assert (message.status, message.provider_message_id, message.segments) == ("sent", "gw-1", 1)
    request, _ = httpserver.log[0]
    payload = Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))
    assert payload["to"] == "+4915112345678" and payload["message_id"] == str(message.pk)


def test_sms_through_twilio(customer, httpserver, settings):
    settings.SMS_PROVIDER, settings.SMS_TWILIO_BASE_URL = "twilio", httpserver.url_for("/")
    settings.SMS_TWILIO_ACCOUNT_SID, settings.SMS_TWILIO_AUTH_TOKEN, settings.SMS_FROM = "AC1", "tok", "+100"
    settings.NOTIFICATION_URL_ALLOW_PRIVATE = True
    httpserver.expect_request("/2010-04-01/Accounts/AC1/Messages.json", method="POST").respond_with_json(
        {"sid": "SM123"}, status=201
    )
    message = message_deliver(message_id=message_send(customer_id="c-1", channel="sms", body_text="Hi").pk)
    assert (message.status, message.provider_message_id) == ("sent", "SM123")
    request, _ = httpserver.log[0]
    assert request.form["To"] == "+4915112345678" and request.authorization.username == "AC1"


def test_sms_provider_5xx_is_retried(customer, httpserver, settings):
    settings.SMS_PROVIDER, settings.SMS_TWILIO_BASE_URL = "twilio", httpserver.url_for("/")
    settings.SMS_TWILIO_ACCOUNT_SID, settings.SMS_TWILIO_AUTH_TOKEN, settings.SMS_FROM = "AC1", "tok", "+100"
    settings.NOTIFICATION_URL_ALLOW_PRIVATE = True
    httpserver.expect_request("/2010-04-01/Accounts/AC1/Messages.json").respond_with_response(
        Response("no", 503)
    )
    message = message_deliver(message_id=message_send(customer_id="c-1", channel="sms", body_text="Hi").pk)
    assert message.status == "failed" and "503" in message.last_error


def test_push_through_the_signed_gateway(customer, httpserver, settings):
    secret = make_whsec()
    settings.NOTIFICATION_PROVIDER, settings.PUSH_GATEWAY_URL, settings.PUSH_GATEWAY_SECRET = (
        "webhook",
        httpserver.url_for("/push"),
        secret,
    )
    settings.NOTIFICATION_URL_ALLOW_PRIVATE = True
    httpserver.expect_request("/push", method="POST").respond_with_json({"message_id": "p-1"})
    message = message_deliver(
        message_id=message_send(customer_id="c-1", channel="push", subject="T", body_text="B").pk
    )
    assert (message.status, message.provider_message_id) == ("sent", "p-1")
    request, _ = httpserver.log[0]
    assert Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))["title"] == "T"


def test_in_app_is_delivered_to_the_inbox_at_once(customer):
    message = message_deliver(message_id=message_send(customer_id="c-1", channel="in_app", subject="Hi").pk)
    assert message.status == "delivered"


def test_a_bounce_suppresses_the_address_and_a_delivery_marks_delivered(customer, smtp_sink):
    message = message_deliver(message_id=message_send(customer_id="c-1", channel="email", subject="x").pk)
    tracking_event_record(
        event_type="delivered", provider_message_id=message.provider_message_id, recipient=""
    )
    message.refresh_from_db()
    assert message.status == "delivered"
    tracking_event_record(
        event_type="bounced",
        provider_message_id=message.provider_message_id,
        recipient="ann@example.com",
        description="550 no such user",
    )
    assert Suppression.objects.get(channel="email", address="ann@example.com").reason == "hard_bounce"


# --- the race: 20 concurrent sends under a cap of 1 per day ------------------------------------------


def _clean_race_rows() -> None:
    Message.objects.filter(customer_id=RACE_CUSTOMER).delete()
    FrequencyRule.objects.filter(name="race cap").delete()
    Customer.objects.filter(customer_id=RACE_CUSTOMER).delete()
    OutboxMessage.objects.filter(task_name=task_names.SEND_MESSAGE).delete()


@pytest.fixture
def race_setup(brand_a) -> Iterator[None]:
    in_committed_connection(_clean_race_rows, schema="brand_a")

    def make() -> None:
        Customer.objects.create(customer_id=RACE_CUSTOMER, email="race@example.com", phone="+100")
        FrequencyRule.objects.create(name="race cap", channel="", max_messages=1, window_hours=24)

    in_committed_connection(make, schema="brand_a")
    yield
    in_committed_connection(_clean_race_rows, schema="brand_a")


def test_twenty_concurrent_sends_under_a_cap_of_one_send_exactly_one(race_setup, brands, settings):
    settings.SMS_PROVIDER = settings.NOTIFICATION_PROVIDER = "console"
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        connection.set_tenant(brands["brand_a"])  # this thread's own connection
        try:
            start.wait(timeout=10)
            message = message_send(
                customer_id=RACE_CUSTOMER,
                channel="push" if n % 2 else "sms",
                subject="Sale",
                defer_when_capped=n % 3 == 0,
            )
            if message.status == "queued":
                message_deliver(message_id=message.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    def outcome() -> dict[str, int]:
        rows = Message.objects.filter(customer_id=RACE_CUSTOMER)
        return {
            "sent": rows.filter(status__in=["sent", "delivered"]).count(),
            "held": rows.filter(status__in=["skipped", "deferred"], skip_reason="frequency_capped").count(),
            "all": rows.count(),
        }

    assert in_committed_connection(outcome, schema="brand_a") == {"sent": 1, "held": 19, "all": 20}


def test_the_award_push_is_transactional_it_ignores_opt_outs_but_not_suppressions(make_award, brand_a):
    Preference.objects.create(customer_id="cust-1", channel="push", topic="", opted_in=False)
    FrequencyRule.objects.create(name="1 a day", channel="", max_messages=1, window_hours=24)
    assert make_award().notification.status == "queued"
    assert make_award().notification.status == "queued"
    suppression_add(channel="push", address="cust-1", actor="system")
    skipped = make_award().notification
    assert (skipped.status, skipped.last_error) == ("skipped", "skipped: suppressed")
