"""Sending notifications through providers: signed webhook to a real local gateway, retries, dead, replay."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks import Webhook
from werkzeug import Response

from notifications.models import Notification
from notifications.services import (
    notification_replay,
    notification_send,
    notifications_enqueue_due,
)
from notifications.tasks import notification_send_task
from outbox.models import OutboxMessage
from tests.campaigns.factories import CampaignFactory
from tests.notifications.helpers import award_body, post_award
from tests.partners.factories import PartnerFactory


def _make_due(notification: Notification) -> None:
    Notification.objects.filter(pk=notification.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_signed_award_reaches_the_push_gateway_with_a_valid_signature(gateway, tenant_client, settings):
    campaign = CampaignFactory(
        status="active",
        partner=PartnerFactory(slug="acme"),
        notification={"title": "Hi {{ customer_id }}", "body": "{{ award.value }} {{ award.currency }} off"},
    )
    gateway.expect_oneshot_request("/push", method="POST").respond_with_json({"message_id": "gw-1"})

    response = post_award(tenant_client, "acme", campaign.partner.secret, award_body(campaign.pk, value="5"))
    assert response.status_code == 201
    notification = Notification.objects.get()
    assert OutboxMessage.objects.get().args == [str(notification.pk)]

    assert notification_send_task.run(str(notification.pk)) == "sent"

    request, _ = gateway.log[0]
    raw = request.get_data(as_text=True)
    headers = dict(request.headers)
    payload = Webhook(settings.PUSH_GATEWAY_SECRET).verify(raw, headers)  # raises if the signature is wrong
    assert headers["Webhook-Id"] == str(notification.pk)
    assert headers["Idempotency-Key"] == str(notification.pk)
    assert payload["type"] == "notification.push"
    assert payload["tenant"] == "brand_a"
    assert payload["customer_id"] == "cust-1"
    assert (payload["title"], payload["body"]) == ("Hi cust-1", "5.00 EUR off")
    assert payload["data"]["award_id"] == response.json()["award_id"]
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert notification.attempts == 1
    assert notification.provider_message_id == "gw-1"
    assert notification.sent_at is not None


def test_provider_500_then_200_is_sent_after_two_attempts(gateway, make_award):
    gateway.expect_ordered_request("/push").respond_with_data("boom", status=500)
    gateway.expect_ordered_request("/push").respond_with_json({})
    notification = make_award().notification

    first = notification_send(notification_id=notification.pk)
    assert first.status == "failed"
    assert first.attempts == 1
    assert first.last_status_code == 500
    assert "boom" in first.last_error
    assert first.next_attempt_at > timezone.now()

    # Not due yet: a duplicate task message does nothing.
    assert notification_send(notification_id=notification.pk).attempts == 1
    assert len(gateway.log) == 1

    _make_due(notification)
    second = notification_send(notification_id=notification.pk)
    assert second.status == "sent"
    assert second.attempts == 2
    assert second.provider_message_id == str(notification.pk)  # the gateway gave no id
    assert len(gateway.log) == 2
    gateway.check_assertions()


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_retryable_statuses_fail_and_wait(gateway, make_award, status):
    gateway.expect_request("/push").respond_with_data("", status=status)
    notification = notification_send(notification_id=make_award().notification.pk)
    assert notification.status == "failed"


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_other_4xx_are_dead_at_once(gateway, make_award, status):
    gateway.expect_request("/push").respond_with_data("no", status=status)
    notification = notification_send(notification_id=make_award().notification.pk)
    assert notification.status == "dead"
    assert notification.attempts == 1
    assert notification.next_attempt_at is None


def test_retry_after_is_honoured(gateway, make_award):
    gateway.expect_request("/push").respond_with_response(
        Response("", status=429, headers={"Retry-After": "120"})
    )
    notification = notification_send(notification_id=make_award().notification.pk)
    assert notification.next_attempt_at - timezone.now() > timedelta(seconds=110)


def test_a_connection_error_is_retried(settings, make_award):
    settings.NOTIFICATION_PROVIDER = "webhook"
    settings.PUSH_GATEWAY_URL = "http://127.0.0.1:9/push"  # discard port: refused
    settings.PUSH_GATEWAY_SECRET = "whsec_" + "A" * 44
    notification = notification_send(notification_id=make_award().notification.pk)
    assert notification.status == "failed"
    assert "unreachable" in notification.last_error


def test_a_redirect_is_not_followed_and_makes_the_notification_dead(gateway, make_award):
    elsewhere = gateway.url_for("/elsewhere")
    gateway.expect_request("/push").respond_with_response(
        Response("", status=307, headers={"Location": elsewhere})
    )
    gateway.expect_request("/elsewhere").respond_with_json({})
    notification = notification_send(notification_id=make_award().notification.pk)
    assert (notification.status, notification.last_status_code) == ("dead", 307)
    assert f"redirect to {elsewhere} not followed" in notification.last_error
    assert [request.path for request, _ in gateway.log] == ["/push"]


def test_a_gateway_on_a_private_address_is_refused_unless_allowed(gateway, make_award, settings):
    settings.NOTIFICATION_URL_ALLOW_PRIVATE = False
    gateway.expect_request("/push").respond_with_json({})
    notification = notification_send(notification_id=make_award().notification.pk)
    assert notification.status == "dead"
    assert "private or reserved address" in notification.last_error
    assert gateway.log == []


def test_a_huge_answer_is_read_up_to_the_cap_only(gateway, make_award):
    gateway.expect_request("/push").respond_with_data(b"{" + b" " * (4 * 1024 * 1024))
    notification = notification_send(notification_id=make_award().notification.pk)
    assert notification.status == "sent"  # the 200 counts; the body was not read past the cap
    assert notification.provider_message_id == str(notification.pk)


def test_a_gateway_that_does_not_answer_in_time_is_retried(gateway, make_award, settings):
    settings.NOTIFICATION_TIMEOUT_SECONDS = 0.3
    gateway.expect_request("/push").respond_with_handler(lambda request: time.sleep(1) or Response("late"))
    started = time.monotonic()
    notification = notification_send(notification_id=make_award().notification.pk)
    assert time.monotonic() - started < 1
    assert notification.status == "failed"
    assert "timeout" in notification.last_error


def test_always_failing_is_dead_after_max_attempts_and_replay_sends_it(gateway, make_award, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    gateway.expect_request("/push").respond_with_data("down", status=503)
    notification = make_award().notification
    for attempt in range(1, 4):
        _make_due(notification)
        result = notification_send(notification_id=notification.pk)
        assert result.attempts == attempt
    assert result.status == "dead"
    assert result.next_attempt_at is None
    _make_due(notification)
    assert notification_send(notification_id=notification.pk).attempts == 3  # dead stays dead

    gateway.clear()
    gateway.expect_request("/push").respond_with_json({"id": "gw-9"})
    replayed = notification_replay(notification_id=notification.pk, actor="system")
    assert (replayed.status, replayed.attempts, replayed.last_error) == ("queued", 0, "")
    assert OutboxMessage.objects.filter(args=[str(notification.pk)]).count() == 2
    sent = notification_send(notification_id=notification.pk)
    assert (sent.status, sent.attempts, sent.provider_message_id) == ("sent", 1, "gw-9")


def test_only_dead_notifications_can_be_replayed(make_award):
    notification = make_award().notification
    from core.exceptions import ConflictError

    with pytest.raises(ConflictError):
        notification_replay(notification_id=notification.pk, actor="system")


def test_a_sent_notification_is_never_sent_again(gateway, make_award):
    gateway.expect_request("/push").respond_with_json({})
    notification = make_award().notification
    notification_send(notification_id=notification.pk)
    notification_send(notification_id=notification.pk)
    assert len(gateway.log) == 1


def test_the_console_provider_is_the_default(make_award, settings, caplog):
    assert settings.NOTIFICATION_PROVIDER == "console"
    notification = make_award(value=Decimal("3")).notification
    assert notification.provider == "console"
    with caplog.at_level("INFO", logger="notifications.providers"):
        sent = notification_send(notification_id=notification.pk)
    assert sent.status == "sent"
    assert sent.provider_message_id.startswith("console-")
    record = next(r for r in caplog.records if r.getMessage() == "push notification")
    assert record.push["notification_id"] == str(notification.pk)
    assert json.dumps(record.push)  # loggable as JSON


def test_a_misconfigured_provider_fails_loudly_and_retries(settings, make_award):
    settings.NOTIFICATION_PROVIDER = "webhook"
    settings.PUSH_GATEWAY_URL = ""
    notification = notification_send(notification_id=make_award().notification.pk)
    assert notification.status == "failed"
    assert "misconfigured" in notification.last_error


def test_the_sweep_enqueues_due_retries_only(make_award):
    due = make_award().notification
    later = make_award().notification
    fresh = make_award().notification
    Notification.objects.filter(pk=due.pk).update(
        status="failed", next_attempt_at=timezone.now() - timedelta(1)
    )
    Notification.objects.filter(pk=later.pk).update(
        status="failed", next_attempt_at=timezone.now() + timedelta(1)
    )
    OutboxMessage.objects.all().delete()

    assert notifications_enqueue_due() == 1
    assert list(OutboxMessage.objects.values_list("args", flat=True)) == [[str(due.pk)]]
    assert fresh.status == "queued"


def test_a_queued_notification_whose_message_was_lost_is_swept(make_award):
    stale = make_award().notification
    Notification.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    OutboxMessage.objects.all().delete()
    assert notifications_enqueue_due() == 1
    assert notifications_enqueue_due() == 0  # touched: not again at once


def test_the_wait_before_a_retry_is_full_jitter_within_the_notification_settings(
    gateway, make_award, settings
):
    """core.delivery.backoff_seconds with NOTIFICATION_RETRY_*: uniform in [1 s, min(max, base·2^(n-1))]."""
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 40
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 60
    settings.NOTIFICATION_MAX_ATTEMPTS = 10
    gateway.expect_request("/push").respond_with_data("down", status=503)
    notification = make_award().notification
    waits = []
    for _attempt in range(1, 6):
        _make_due(notification)
        before = timezone.now()
        failed = notification_send(notification_id=notification.pk)
        assert failed.status == "failed"
        waits.append((failed.next_attempt_at - before).total_seconds())
    assert 1 <= waits[0] <= 40 + 1  # attempt 1: cap = base
    assert all(1 <= wait <= 60 + 1 for wait in waits)  # later attempts: capped at max
    assert len({round(wait, 3) for wait in waits}) > 1  # jittered


def test_a_stored_template_that_does_not_render_makes_a_dead_notification_and_replay_rerenders(make_award):
    campaign = CampaignFactory(status="active", partner=PartnerFactory(), notification={"title": "{% if %}"})
    notification = make_award(campaign=campaign).notification
    assert notification.status == "dead"
    assert notification.last_error.startswith("template: ")
    assert not OutboxMessage.objects.filter(args=[str(notification.pk)]).exists()

    campaign.notification = {"title": "Fixed {{ campaign.name }}"}
    campaign.save()
    replayed = notification_replay(notification_id=notification.pk, actor="system")
    assert replayed.status == "queued"
    assert replayed.title == f"Fixed {campaign.name}"


def test_replay_dead_command(make_award, brands):
    notification = make_award().notification
    Notification.objects.filter(pk=notification.pk).update(status="dead")
    call_command("replay_dead_notifications", schema="brand_a")
    notification.refresh_from_db()
    assert notification.status == "queued"


def test_replay_api(make_api_client, make_award):
    notification = make_award().notification
    crm = make_api_client("brand_a", "crm")
    assert crm.post(f"/api/v1/notifications/{notification.pk}/replay/").status_code == 409
    Notification.objects.filter(pk=notification.pk).update(status="dead")
    response = crm.post(f"/api/v1/notifications/{notification.pk}/replay/")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    ingest = make_api_client("brand_a", "ingest")
    assert ingest.post(f"/api/v1/notifications/{notification.pk}/replay/").status_code == 403


def test_status_counts_for_campaign_stats(make_award):
    from awards.selectors import award_count
    from notifications.selectors import notification_status_counts

    campaign = CampaignFactory(status="active", partner=PartnerFactory())
    first = make_award(campaign=campaign).notification
    make_award(campaign=campaign)
    Notification.objects.filter(pk=first.pk).update(status="dead")
    assert notification_status_counts(campaign_id=campaign.pk) == {
        "queued": 1,
        "sent": 0,
        "failed": 0,
        "dead": 1,
    }
    assert award_count(campaign_id=campaign.pk) == 2
