"""Alarms: an induced partner outage fires each rule once and clears it once, by email (a real local SMTP
server, aiosmtpd) and a signed webhook (a real local HTTP server); a failed delivery is retried alone."""

from __future__ import annotations

import email
from decimal import Decimal
from email.header import decode_header, make_header

import pytest
from django.utils import timezone
from standardwebhooks import Webhook
from werkzeug import Response

from dispatches.models import Dispatch
from dispatches.services import dispatch_replay_dead, dispatch_send_batch
from monitoring.alarms.models import Alarm, AlarmRule
from monitoring.alarms.services import alarm_notify_pending
from monitoring.tasks import monitoring_tick_task
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory, make_whsec

SUBMISSIONS = "/submissions"
OPS = "ops@example.com"


@pytest.fixture
def outage_partner(brand_a, httpserver):
    return PartnerFactory(
        slug="flaky-rewards",
        submission_url=httpserver.url_for(SUBMISSIONS),
        auth_url=httpserver.url_for("/participate"),
        timeout_seconds=1,
        max_attempts=1,  # one failed attempt makes a dead letter
    )


@pytest.fixture
def alarm_channels(settings, smtp_server, webhook_server):
    controller, sink = smtp_server
    secret = make_whsec()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.ALARM_EMAIL_TO = [OPS]
    settings.ALARM_WEBHOOK_URL = webhook_server.url_for("/alarms")
    settings.ALARM_WEBHOOK_SECRET = secret
    webhook_server.expect_request("/alarms", method="POST").respond_with_data("ok")
    return sink, webhook_server, secret


@pytest.fixture
def rules(brand_a):
    # These tests are about these rules alone: the brands' default rules are set aside (rolled back).
    AlarmRule.objects.all().delete()
    return [
        AlarmRule.objects.create(name="dead letters", kind=AlarmRule.Kind.DEAD_LETTERS, threshold=0),
        AlarmRule.objects.create(
            name="failure rate",
            kind=AlarmRule.Kind.FAILURE_RATE,
            threshold=50,
            window_minutes=15,
            min_attempts=3,
        ),
        AlarmRule.objects.create(name="partner down", kind=AlarmRule.Kind.PARTNER_FAILURES, threshold=3),
    ]


def _webhooks(server, secret) -> list[dict]:
    """Every alarm webhook received, its signature verified with the shared secret."""
    return [Webhook(secret).verify(request.get_data(), dict(request.headers)) for request, _ in server.log]


def _subjects(sink) -> list[str]:
    subjects = (email.message_from_string(message["data"])["Subject"] for message in sink.messages)
    return [str(make_header(decode_header(subject))) for subject in subjects]


def test_partner_outage_fires_each_alarm_once_and_clears_it_once(
    brand_a, httpserver, outage_partner, alarm_channels, rules
):
    sink, webhook_server, secret = alarm_channels
    campaign = CampaignFactory(status="active", partner=outage_partner)
    dispatches = [make_dispatch(partner=outage_partner, campaign=campaign) for _ in range(3)]
    ids = [str(d.id) for d in dispatches]

    # The outage: the partner answers 503 to everything.
    httpserver.expect_request(SUBMISSIONS, method="POST").respond_with_data("down", status=503)
    assert dispatch_send_batch(dispatch_ids=ids).dead == 3

    result = monitoring_tick_task.run()
    assert result["alarms_changed"] == 3
    firing = {a.rule.name: a for a in Alarm.objects.filter(brand=brand_a, cleared_at__isnull=True)}
    assert set(firing) == {"dead letters", "failure rate", "partner down"}
    assert firing["dead letters"].fired_value == 3
    assert firing["failure rate"].fired_value == Decimal("100.00")
    assert (firing["partner down"].partner_slug, firing["partner down"].fired_value) == ("flaky-rewards", 3)
    assert len(sink.messages) == 3
    assert all(m["to"] == [OPS] for m in sink.messages)
    assert all("[alarm FIRING]" in s and "brand_a" in s for s in _subjects(sink))
    fired = _webhooks(webhook_server, secret)
    assert sorted((w["type"], w["rule"]["name"]) for w in fired) == [
        ("alarm.fired", "dead letters"), ("alarm.fired", "failure rate"), ("alarm.fired", "partner down"),
    ]  # fmt: skip
    assert {w["tenant"] for w in fired} == {"brand_a"}
    assert {request.headers["webhook-id"] for request, _ in webhook_server.log} == {
        f"alarm-{a.pk}-fired" for a in firing.values()
    }

    # Still down, ticks go on: nothing new is opened or sent.
    for _ in range(2):
        assert monitoring_tick_task.run()["alarms_changed"] == 0
    assert len(sink.messages) == 3
    assert len(webhook_server.log) == 3
    assert Alarm.objects.filter(brand=brand_a).count() == 3

    # The partner is back; the operator replays the dead letters and they go through.
    httpserver.clear_all_handlers()
    httpserver.expect_request(SUBMISSIONS, method="POST").respond_with_json({"ok": True})
    assert dispatch_replay_dead(actor="system") == 3
    assert dispatch_send_batch(dispatch_ids=ids).sent == 3
    assert Dispatch.objects.filter(status="sent").count() == 3

    assert monitoring_tick_task.run()["alarms_changed"] == 3
    assert not Alarm.objects.filter(brand=brand_a, cleared_at__isnull=True).exists()
    cleared = {a.rule.name: a for a in Alarm.objects.filter(brand=brand_a)}
    assert cleared["dead letters"].cleared_value == 0
    assert cleared["failure rate"].cleared_value == Decimal("50.00")  # 3 failed, 3 sent: not above 50 %
    assert cleared["partner down"].cleared_value == 0
    assert len(sink.messages) == 6
    assert sum("[alarm CLEARED]" in s for s in _subjects(sink)) == 3
    assert (
        sorted(w["type"] for w in _webhooks(webhook_server, secret))
        == ["alarm.cleared"] * 3 + ["alarm.fired"] * 3
    )

    monitoring_tick_task.run()
    assert (len(sink.messages), len(webhook_server.log)) == (6, 6)


def test_a_failed_delivery_is_retried_without_repeating_the_others(
    brand_a, httpserver, outage_partner, alarm_channels, rules, settings
):
    sink, webhook_server, _secret = alarm_channels
    smtp_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 9  # nothing listens there: the mail fails
    campaign = CampaignFactory(status="active", partner=outage_partner)
    dispatch = make_dispatch(partner=outage_partner, campaign=campaign)
    httpserver.expect_request(SUBMISSIONS, method="POST").respond_with_data("gone", status=410)
    dispatch_send_batch(dispatch_ids=[str(dispatch.id)])
    AlarmRule.objects.exclude(kind=AlarmRule.Kind.DEAD_LETTERS).update(is_enabled=False)

    monitoring_tick_task.run()
    alarm = Alarm.objects.get(brand=brand_a)
    assert alarm.fire_notified_webhook_at is not None
    assert alarm.fire_notified_email_at is None
    assert "fired email" in alarm.last_notify_error
    assert (len(sink.messages), len(webhook_server.log)) == (0, 1)

    settings.EMAIL_PORT = smtp_port
    assert monitoring_tick_task.run()["notified"] == 1
    alarm.refresh_from_db()
    assert alarm.fire_notified_email_at is not None and alarm.last_notify_error == ""
    assert (len(sink.messages), len(webhook_server.log)) == (1, 1)


def test_rules_scoped_to_another_brand_and_disabled_rules_do_not_fire(
    brand_a, brand_b, outage_partner, rules
):
    AlarmRule.objects.update(brand=brand_b)
    campaign = CampaignFactory(status="active", partner=outage_partner)
    make_dispatch(partner=outage_partner, campaign=campaign, status="dead")
    monitoring_tick_task.run()
    assert not Alarm.objects.exists()

    AlarmRule.objects.filter(kind=AlarmRule.Kind.DEAD_LETTERS).update(brand=None)
    monitoring_tick_task.run()
    assert Alarm.objects.get().rule.kind == AlarmRule.Kind.DEAD_LETTERS

    # Disabling the rule clears its open alarm (nothing stays firing for a rule nobody evaluates).
    AlarmRule.objects.update(is_enabled=False)
    monitoring_tick_task.run()
    assert Alarm.objects.get().cleared_at is not None


def test_failure_rate_needs_its_minimum_sample(brand_a, httpserver, outage_partner, rules):
    campaign = CampaignFactory(status="active", partner=outage_partner)
    dispatch = make_dispatch(partner=outage_partner, campaign=campaign)
    httpserver.expect_request(SUBMISSIONS, method="POST").respond_with_data("down", status=503)
    dispatch_send_batch(dispatch_ids=[str(dispatch.id)])  # 1 attempt, 100 % failed, min_attempts 3
    AlarmRule.objects.exclude(kind=AlarmRule.Kind.FAILURE_RATE).update(is_enabled=False)
    monitoring_tick_task.run()
    assert not Alarm.objects.exists()


@pytest.fixture
def webhook_only_alarm(brand_a, settings, webhook_server):
    """An open alarm whose only channel is the webhook (a real local server), not yet notified."""
    settings.ALARM_EMAIL_TO = []
    settings.ALARM_WEBHOOK_URL = webhook_server.url_for("/alarms")
    settings.ALARM_WEBHOOK_SECRET = make_whsec()
    AlarmRule.objects.all().delete()
    rule = AlarmRule.objects.create(name="dead letters", kind=AlarmRule.Kind.DEAD_LETTERS, threshold=0)
    return Alarm.objects.create(
        rule=rule, brand=brand_a, fired_at=timezone.now(), fired_value=Decimal(1), last_value=Decimal(1)
    )


def test_the_alarm_webhook_does_not_follow_a_redirect(brand_a, webhook_only_alarm, webhook_server):
    elsewhere = webhook_server.url_for("/elsewhere")
    webhook_server.expect_request("/alarms", method="POST").respond_with_response(
        Response("", status=302, headers={"Location": elsewhere})
    )
    webhook_server.expect_request("/elsewhere").respond_with_data("ok")

    assert alarm_notify_pending(brand=brand_a) == 0

    webhook_only_alarm.refresh_from_db()
    assert webhook_only_alarm.fire_notified_webhook_at is None  # a 3xx is a failure: retried next tick
    assert (
        f"fired webhook: HTTP 302: redirect to {elsewhere} not followed"
        in webhook_only_alarm.last_notify_error
    )
    assert [request.path for request, _ in webhook_server.log] == ["/alarms"]


def test_the_alarm_webhook_refuses_a_private_address_unless_allowed(
    brand_a, webhook_only_alarm, webhook_server, settings
):
    webhook_server.expect_request("/alarms", method="POST").respond_with_data("ok")
    settings.ALARM_WEBHOOK_ALLOW_PRIVATE = False

    assert alarm_notify_pending(brand=brand_a) == 0
    webhook_only_alarm.refresh_from_db()
    assert webhook_only_alarm.fire_notified_webhook_at is None
    assert "private or reserved address" in webhook_only_alarm.last_notify_error
    assert webhook_server.log == []

    settings.ALARM_WEBHOOK_ALLOW_PRIVATE = True
    assert alarm_notify_pending(brand=brand_a) == 1
    webhook_only_alarm.refresh_from_db()
    assert webhook_only_alarm.fire_notified_webhook_at is not None
    request, _ = webhook_server.log[0]
    payload = Webhook(settings.ALARM_WEBHOOK_SECRET).verify(request.get_data(), dict(request.headers))
    assert payload["type"] == "alarm.fired"
    assert request.headers["webhook-id"] == f"alarm-{webhook_only_alarm.pk}-fired"


def test_budget_threshold_rule_fires_per_campaign_and_clears_when_it_is_released(brand_a, rules):
    from campaigns.budgets import budget_release, budget_reserve, budget_set

    AlarmRule.objects.all().delete()
    AlarmRule.objects.create(name="budget", kind=AlarmRule.Kind.BUDGET_THRESHOLD, threshold=90)
    campaign = CampaignFactory(status="active")
    quiet = CampaignFactory(status="active")
    budget_set(campaign_id=campaign.pk, actor="user:ana", kind="count", limit=Decimal(10))
    budget_set(campaign_id=quiet.pk, actor="user:ana", kind="count", limit=Decimal(10))
    for n in range(9):
        budget_reserve(campaign_id=campaign.pk, amount=Decimal(1), ref=f"r{n}")
    budget_reserve(campaign_id=quiet.pk, amount=Decimal(1), ref="q")
    monitoring_tick_task.run()
    alarm = Alarm.objects.get()
    assert (alarm.partner_slug, alarm.fired_value) == (f"campaign:{campaign.pk}", Decimal(90))
    monitoring_tick_task.run()
    assert Alarm.objects.count() == 1  # still firing: not opened twice
    budget_release(ref="r0")
    budget_release(ref="r1")
    monitoring_tick_task.run()
    assert Alarm.objects.get().cleared_at is not None
