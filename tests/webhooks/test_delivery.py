"""Delivery of events to a real local receiver: signing, the retry schedule, disable, replay, rotation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Response

from core.actors import SYSTEM_ACTOR
from outbox import events
from outbox.models import DomainEvent
from webhooks import policy
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    webhook_deliveries_send,
    webhook_delivery_replay,
    webhook_due_delivery_ids,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_fan_out_and_send,
    webhook_sweep,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _requests(receiver, path="/hooks"):
    return [request for request, _ in receiver.log if request.path == path]


def _verify(secret: str, request) -> dict:
    return Webhook(secret).verify(request.get_data(), dict(request.headers))


def test_an_event_reaches_the_subscribed_endpoint_signed_once(make_endpoint, receiver):
    endpoint, secret = make_endpoint(event_types=["award.created", "dispatch.sent"])
    other, _ = make_endpoint(event_types=["segment.computed"], path="/other")
    receiver.expect_request("/hooks", method="POST").respond_with_data("ok")
    with transaction.atomic():
        event = events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1", "value": "5.00"})
    assert event is not None

    result = webhook_fan_out_and_send()

    assert result.sent == 1
    [request] = _requests(receiver)
    assert not _requests(receiver, "/other")
    body = _verify(secret, request)
    assert body["type"] == "award.created"
    assert body["id"] == str(event.id)
    assert body["tenant"] == "brand_a"
    assert body["data"] == {"award_id": "aw-1", "value": "5.00"}
    delivery = WebhookDelivery.objects.get()
    assert request.headers["webhook-id"] == str(delivery.id)
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.endpoint == endpoint
    assert DomainEvent.objects.get().fanned_out_at is not None
    assert other.deliveries.count() == 0
    # A second fan-out finds nothing more to do: delivered once.
    assert webhook_fan_out_and_send().claimed == 0
    assert len(_requests(receiver)) == 1


def test_no_row_is_written_when_no_endpoint_subscribes(make_endpoint, django_assert_num_queries):
    make_endpoint(event_types=["segment.computed"])
    events.subscribed_event_types()  # warm the cache
    with django_assert_num_queries(0):
        assert events.emit(events.EventType.PURCHASE_EVALUATED, {"external_id": "o-1"}) is None
    assert not DomainEvent.objects.exists()


def test_an_event_rolls_back_with_its_transaction(make_endpoint):
    make_endpoint(event_types=["award.created"])
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
        raise RuntimeError("the causing change failed")
    assert not DomainEvent.objects.exists()


def test_one_fan_out_message_per_transaction(make_endpoint, django_capture_on_commit_callbacks, monkeypatch):
    make_endpoint(event_types=["award.created"])
    sent = []
    monkeypatch.setattr(events.app, "send_task", lambda name, *a, **k: sent.append(name))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for n in range(5):
            events.emit(events.EventType.AWARD_CREATED, {"award_id": f"aw-{n}"})
    assert sent == ["webhooks.fan_out_events"]
    assert DomainEvent.objects.count() == 5


def test_a_broker_outage_leaves_the_events_for_the_maintenance_tick(
    make_endpoint, django_capture_on_commit_callbacks, monkeypatch, receiver
):
    from monitoring.maintenance import next_work_due_at

    make_endpoint(event_types=["award.created"])

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(events.app, "send_task", down)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
    now = datetime.now(UTC)
    assert next_work_due_at(now) <= now + timedelta(seconds=15)
    receiver.expect_request("/hooks").respond_with_data("ok")
    with time_machine.travel(now + timedelta(seconds=10), tick=False):
        webhook_sweep()
    assert len(_requests(receiver)) == 1


def test_a_cache_outage_still_records_the_event(make_endpoint, settings):
    # Redis (the cache) unreachable: the subscriptions come from the database, the event is kept.
    make_endpoint(event_types=["award.created"])
    events.subscriptions_changed()  # no local memo: the next emit asks the cache
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    assert events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-down"}) is not None
    events.subscriptions_changed()  # does not raise either
    assert DomainEvent.objects.filter(data__award_id="aw-down").exists()


def test_the_retry_schedule_is_honoured_then_dead(make_endpoint, receiver):
    endpoint, _ = make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_data("down", status=503)
    waits = []
    with time_machine.travel(T0, tick=False) as clock:
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
        webhook_fan_out_and_send()
        delivery = WebhookDelivery.objects.get()
        for _ in range(policy.MAX_ATTEMPTS - 1):
            delivery.refresh_from_db()
            assert delivery.status == "failed"
            now = datetime.now(UTC)
            waits.append((delivery.next_attempt_at - now).total_seconds())
            # Not due a second early: the sweep leaves it alone.
            clock.move_to(delivery.next_attempt_at - timedelta(seconds=1))
            assert delivery.id not in webhook_due_delivery_ids()
            clock.move_to(delivery.next_attempt_at)
            webhook_sweep()
    delivery.refresh_from_db()
    assert delivery.status == "dead"
    assert delivery.attempts == 8
    assert "max attempts (8) reached" in delivery.last_error
    assert len(_requests(receiver)) == 8
    assert list(WebhookAttempt.objects.filter(delivery=delivery).values_list("outcome", flat=True)) == (
        ["retry"] * 7 + ["dead"]
    )
    for wait, scheduled in zip(waits, (5, 300, 1800, 7200, 18000, 36000, 36000), strict=True):
        assert scheduled <= wait <= scheduled * 1.1 + 0.001, (wait, scheduled)
    endpoint.refresh_from_db()
    assert endpoint.failing_since == T0 and endpoint.is_enabled  # ~28 h of failing: not 5 days yet


def test_retry_after_longer_than_the_schedule_is_honoured(make_endpoint, receiver):
    make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_response(
        Response("slow down", 429, {"Retry-After": "120"})
    )
    with time_machine.travel(T0, tick=False):
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
        webhook_fan_out_and_send()
        delivery = WebhookDelivery.objects.get()
        assert delivery.next_attempt_at == T0 + timedelta(seconds=120)


def test_an_endpoint_failing_for_five_days_is_disabled_with_an_alarm(make_endpoint, receiver, brand_a):
    from monitoring.alarms.models import Alarm, AlarmRule
    from monitoring.alarms.services import alarms_evaluate
    from monitoring.health import health_refresh

    endpoint, _ = make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_data("down", status=500)
    rule = AlarmRule.objects.get_or_create(
        name="Webhook endpoints disabled (test)",
        defaults={"kind": AlarmRule.Kind.WEBHOOK_ENDPOINT_DISABLED, "threshold": 0, "brand": brand_a},
    )[0]
    with time_machine.travel(T0, tick=False) as clock:
        for day in range(6):
            clock.move_to(T0 + timedelta(days=day, seconds=1))
            with transaction.atomic():
                events.emit(events.EventType.AWARD_CREATED, {"award_id": f"aw-{day}"})
            webhook_sweep()
            webhook_fan_out_and_send()
            endpoint.refresh_from_db()
            if day < 5:
                assert endpoint.is_enabled, day
        assert not endpoint.is_enabled
        assert endpoint.disabled_reason == WebhookEndpoint.DisabledReason.FAILING
        assert endpoint.failing_since == T0 + timedelta(seconds=1)
        # Its open deliveries are dead letters (replayable once fixed), nothing more is sent to it.
        assert not WebhookDelivery.objects.filter(status__in=["queued", "sending", "failed"]).exists()
        assert (
            "disabled"
            in WebhookDelivery.objects.filter(status="dead").order_by("created_at").first().last_error
        )
        assert "award.created" not in events.subscribed_event_types()
        sent_before = len(_requests(receiver))
        with transaction.atomic():
            assert events.emit(events.EventType.AWARD_CREATED, {"award_id": "late"}) is None
        clock.move_to(T0 + timedelta(days=7))
        webhook_sweep()
        assert len(_requests(receiver)) == sent_before

        alarms_evaluate(brand=brand_a, snapshot=health_refresh())
    alarm = Alarm.objects.get(rule=rule)
    assert alarm.is_firing and alarm.fired_value == 1

    # Enabled again by the CRM: the streak is forgotten, the alarm clears on the next evaluation.
    webhook_endpoint_update(endpoint_id=endpoint.pk, actor=SYSTEM_ACTOR, data={"is_enabled": True})
    endpoint.refresh_from_db()
    assert endpoint.is_enabled and endpoint.failing_since is None and endpoint.disabled_reason == ""
    alarms_evaluate(brand=brand_a, snapshot=health_refresh())
    alarm.refresh_from_db()
    assert not alarm.is_firing


def test_a_success_ends_the_failure_streak(make_endpoint, receiver):
    endpoint, _ = make_endpoint(event_types=["award.created"])
    receiver.expect_oneshot_request("/hooks").respond_with_data("down", status=500)
    receiver.expect_request("/hooks").respond_with_data("ok")
    with time_machine.travel(T0, tick=False) as clock:
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
        webhook_fan_out_and_send()
        endpoint.refresh_from_db()
        assert endpoint.failing_since == T0
        clock.move_to(T0 + timedelta(seconds=6))
        webhook_sweep()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    assert WebhookDelivery.objects.get().status == "sent"


def test_replay_sends_the_same_webhook_id_again(make_endpoint, receiver):
    make_endpoint(event_types=["award.created"])
    receiver.expect_oneshot_request("/hooks").respond_with_data("gone", status=410)
    receiver.expect_request("/hooks").respond_with_data("ok")
    with transaction.atomic():
        events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
    webhook_fan_out_and_send()
    delivery = WebhookDelivery.objects.get()
    delivery.status = "dead"  # as after the last attempt
    delivery.save()
    with pytest.raises(Exception) as conflict:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
        webhook_delivery_replay(delivery_id=delivery.id, actor=SYSTEM_ACTOR)
    assert getattr(conflict.value, "status_code", None) == 409
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="dead")

    replayed = webhook_delivery_replay(delivery_id=delivery.id, actor=SYSTEM_ACTOR)
    assert replayed.status == "queued" and replayed.attempt_base == 1 and replayed.replay_count == 1
    webhook_deliveries_send(delivery_ids=[delivery.id])
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2
    first, second = _requests(receiver)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == str(delivery.id)
    assert first.get_data() == second.get_data()


def test_replay_of_an_unknown_delivery_is_404(brand_a):
    with pytest.raises(Exception) as missing:
        webhook_delivery_replay(delivery_id=uuid.uuid4(), actor=SYSTEM_ACTOR)
    assert missing.value.status_code == 404


def test_rotation_signs_with_both_secrets_for_24_hours(make_endpoint, receiver):
    endpoint, old_secret = make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_data("ok")
    with time_machine.travel(T0, tick=False) as clock:
        new_secret = webhook_endpoint_rotate_secret(endpoint_id=endpoint.pk, actor=SYSTEM_ACTOR).secret
        assert new_secret != old_secret and new_secret.startswith("whsec_")
        clock.move_to(T0 + timedelta(hours=23, minutes=59))
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "during"})
        webhook_fan_out_and_send()
        [during] = _requests(receiver)
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert _verify(old_secret, during)["data"]["award_id"] == "during"
        assert _verify(new_secret, during)["data"]["award_id"] == "during"

        clock.move_to(T0 + timedelta(hours=24, seconds=1))
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "after"})
        webhook_fan_out_and_send()
        after = _requests(receiver)[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert _verify(new_secret, after)["data"]["award_id"] == "after"
        with pytest.raises(WebhookVerificationError):
            _verify(old_secret, after)


def test_a_lost_worker_is_resent_after_its_lease_with_the_same_id(make_endpoint, receiver):
    from webhooks.services import webhook_deliveries_claim, webhook_events_fan_out

    make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_data("ok")
    with time_machine.travel(T0, tick=False) as clock:
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
        [delivery_id] = webhook_events_fan_out()
        claimed = webhook_deliveries_claim(delivery_ids=[delivery_id], claim_token=uuid.uuid4(), now=T0)
        assert len(claimed) == 1  # ... and the worker dies here
        clock.move_to(T0 + timedelta(minutes=5))
        webhook_sweep()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "sent" and delivery.attempts == 2
    assert json.loads(_requests(receiver)[0].get_data())["data"] == {"award_id": "aw-1"}
    assert WebhookAttempt.objects.filter(delivery=delivery, outcome="retry", status_code=None).count() == 1


def test_a_brand_with_nothing_due_sleeps_and_a_retry_wakes_it_then(make_endpoint, receiver, settings):
    from monitoring.maintenance import next_work_due_at

    settings.WORK_DUE_SETTLE_SECONDS = 0  # no "recent activity" minute ticks in this test
    make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_data("down", status=503)
    with time_machine.travel(T0, tick=False) as clock:
        idle = next_work_due_at(T0)
        assert idle >= T0 + timedelta(hours=1)  # nothing of ours keeps the brand awake
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
        assert next_work_due_at(T0) <= T0 + timedelta(seconds=settings.MAINTENANCE_TICK_SECONDS)
        webhook_fan_out_and_send()
        clock.move_to(T0 + timedelta(seconds=7))
        webhook_sweep()  # the second attempt fails too: the next one is ~5 min away
        delivery = WebhookDelivery.objects.get()
        assert next_work_due_at(datetime.now(UTC)) == delivery.next_attempt_at


def test_history_older_than_the_retention_is_purged_open_deliveries_are_kept(
    make_endpoint, receiver, settings
):
    from webhooks.services import webhook_history_purge

    settings.WEBHOOK_HISTORY_DAYS = 30
    make_endpoint(event_types=["award.created"])
    receiver.expect_oneshot_request("/hooks").respond_with_data("ok")
    receiver.expect_request("/hooks").respond_with_data("down", status=503)
    with time_machine.travel(T0, tick=False):
        for n in range(2):
            with transaction.atomic():
                events.emit(events.EventType.AWARD_CREATED, {"award_id": f"aw-{n}"})
            webhook_fan_out_and_send()
    assert sorted(d.status for d in WebhookDelivery.objects.all()) == ["failed", "sent"]
    assert webhook_history_purge(now=T0 + timedelta(days=29)) == 0
    assert webhook_history_purge(now=T0 + timedelta(days=31)) == 1
    [kept] = WebhookDelivery.objects.all()
    assert kept.status == "failed"  # still being delivered: never purged
    assert DomainEvent.objects.count() == 1 and WebhookAttempt.objects.filter(delivery=kept).exists()


def test_disabling_by_hand_turns_open_deliveries_into_dead_letters_and_the_brand_sleeps(
    make_endpoint, receiver, settings
):
    from monitoring.maintenance import next_work_due_at

    settings.WORK_DUE_SETTLE_SECONDS = 0
    endpoint, _ = make_endpoint(event_types=["award.created"])
    receiver.expect_request("/hooks").respond_with_data("down", status=503)
    with time_machine.travel(T0, tick=False):
        with transaction.atomic():
            events.emit(events.EventType.AWARD_CREATED, {"award_id": "aw-1"})
        webhook_fan_out_and_send()
        assert WebhookDelivery.objects.get().status == "failed"
        webhook_endpoint_update(endpoint_id=endpoint.pk, actor=SYSTEM_ACTOR, data={"is_enabled": False})
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "dead" and "by hand" in delivery.last_error
        assert next_work_due_at(T0) >= T0 + timedelta(hours=1)
        with pytest.raises(Exception) as refused:
            webhook_delivery_replay(delivery_id=delivery.id, actor=SYSTEM_ACTOR)
        assert refused.value.code == "endpoint_disabled"


def test_events_nobody_takes_any_more_are_fanned_out_to_nothing(make_endpoint):
    endpoint, _ = make_endpoint(event_types=["award.created"])
    with transaction.atomic():
        events.emit_many(events.EventType.AWARD_CREATED, [{"n": n} for n in range(1200)])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()  # gone before the fan-out
    assert webhook_fan_out_and_send().claimed == 0
    assert not DomainEvent.objects.filter(fanned_out_at__isnull=True).exists()
