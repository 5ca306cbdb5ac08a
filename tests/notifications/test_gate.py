"""The deliverability gate (notifications/gate.py): reasons in SPEC §14's order, quiet hours, caps."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.gate import GateContext, GateRequest, Rule, evaluate, normalise_address, quiet_window_end

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def ctx(**overrides):
    base = dict(suppressed=False, preferences={}, timezone=BERLIN, quiet_hours=None, rules=(), recent=())
    return GateContext(**{**base, **overrides})


def req(**overrides):
    base = dict(channel="email", category="marketing", topic="news", address="a@example.com", now=NOW)
    return GateRequest(**{**base, **overrides})


def test_all_clear_sends():
    assert evaluate(req(), ctx()).status == "queued"


def test_reasons_in_spec_order():
    everything = ctx(
        suppressed=True,
        preferences={("email", ""): False},
        quiet_hours=(time(0, 0), time(23, 59)),
        rules=(Rule("", 1, timedelta(days=1)),),
        recent=((NOW - timedelta(hours=1), "email"),),
    )
    assert evaluate(req(address=""), everything).reason == "suppressed"
    no_suppression = ctx(**{**everything.__dict__, "suppressed": False})
    assert evaluate(req(address=""), no_suppression).reason == "unsubscribed"
    consent = ctx(**{**no_suppression.__dict__, "preferences": {}})
    assert evaluate(req(address=""), consent).reason == "no_address"
    assert evaluate(req(), consent).reason == "quiet_hours"
    awake = ctx(**{**consent.__dict__, "quiet_hours": None})
    assert evaluate(req(), awake).reason == "frequency_capped"


def test_topic_opt_out_and_channel_opt_out():
    assert evaluate(req(), ctx(preferences={("email", "news"): False})).reason == "unsubscribed"
    assert evaluate(req(topic="offers"), ctx(preferences={("email", "news"): False})).status == "queued"
    assert evaluate(req(topic="offers"), ctx(preferences={("email", ""): False})).reason == "unsubscribed"
    assert evaluate(req(channel="sms"), ctx(preferences={("email", ""): False})).status == "queued"


def test_transactional_skips_consent_quiet_hours_and_caps_never_suppression():
    t = req(category="transactional")
    assert evaluate(t, ctx(preferences={("email", ""): False})).status == "queued"
    assert evaluate(t, ctx(quiet_hours=(time(0, 0), time(23, 59)))).status == "queued"
    capped = ctx(rules=(Rule("", 1, timedelta(days=1)),), recent=((NOW, "email"),))
    assert evaluate(t, capped).status == "queued"
    assert evaluate(t, ctx(suppressed=True)).reason == "suppressed"
    assert evaluate(req(category="transactional", address=""), ctx()).reason == "no_address"


def test_quiet_hours_wrapping_midnight_defer_to_the_local_morning():
    quiet = ctx(quiet_hours=(time(22, 0), time(8, 0)))
    # 23:30 Berlin (CEST, UTC+2) → 08:00 next morning local = 06:00 UTC.
    late = evaluate(req(now=datetime(2026, 6, 10, 21, 30, tzinfo=UTC)), quiet)
    assert (late.status, late.reason) == ("deferred", "quiet_hours")
    assert late.until == datetime(2026, 6, 11, 6, 0, tzinfo=UTC)
    # 03:00 local, after midnight → 08:00 the same day.
    early = evaluate(req(now=datetime(2026, 6, 11, 1, 0, tzinfo=UTC)), quiet)
    assert early.until == datetime(2026, 6, 11, 6, 0, tzinfo=UTC)
    # 08:00 local sharp and 21:59 local are outside.
    assert evaluate(req(now=datetime(2026, 6, 11, 6, 0, tzinfo=UTC)), quiet).status == "queued"
    assert evaluate(req(now=datetime(2026, 6, 10, 19, 59, tzinfo=UTC)), quiet).status == "queued"


def test_quiet_hours_in_the_customers_timezone():
    quiet = ctx(quiet_hours=(time(22, 0), time(8, 0)), timezone=ZoneInfo("America/New_York"))
    # 12:00 UTC is 08:00 in New York (EDT): outside; 11:59 UTC is inside.
    assert evaluate(req(), quiet).status == "queued"
    assert evaluate(req(now=NOW - timedelta(minutes=1)), quiet).until == NOW


def test_quiet_hours_across_spring_forward():
    # Berlin, night of 28→29 March 2026: clocks jump 02:00 CET → 03:00 CEST. 23:00 CET = 22:00 UTC.
    until = quiet_window_end(datetime(2026, 3, 28, 22, 0, tzinfo=UTC), BERLIN, time(22, 0), time(8, 0))
    assert until.astimezone(UTC) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST, not 07:00 UTC
    assert until.astimezone(BERLIN).hour == 8


def test_quiet_hours_across_fall_back():
    # Berlin, night of 24→25 October 2026: 03:00 CEST → 02:00 CET. 23:00 CEST = 21:00 UTC.
    until = quiet_window_end(datetime(2026, 10, 24, 21, 0, tzinfo=UTC), BERLIN, time(22, 0), time(8, 0))
    assert until.astimezone(UTC) == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)  # 08:00 CET


def test_quiet_window_ending_inside_the_spring_gap_ends_after_it():
    until = quiet_window_end(datetime(2026, 3, 28, 22, 0, tzinfo=UTC), BERLIN, time(22, 0), time(2, 30))
    assert until.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # = 03:30 CEST


def test_frequency_caps_any_channel_and_one_channel_most_restrictive_wins():
    weekly = Rule("", 3, timedelta(days=7))
    sms_daily = Rule("sms", 1, timedelta(days=1))
    recent = (
        (NOW - timedelta(days=6), "email"),
        (NOW - timedelta(days=2), "email"),
        (NOW - timedelta(hours=2), "sms"),
    )
    rules = ctx(rules=(weekly, sms_daily), recent=recent)
    # email: the weekly rule is full (3 in 7 days) → reopens when the 6-day-old one leaves.
    email = evaluate(req(defer_when_capped=True), rules)
    assert (email.reason, email.until) == ("frequency_capped", NOW + timedelta(days=1))
    # sms: both full; weekly reopens in 1 day, daily in 22 h → the later one wins.
    sms = evaluate(req(channel="sms", defer_when_capped=True), rules)
    assert sms.until == NOW + timedelta(days=1)
    assert evaluate(req(channel="sms"), rules).status == "skipped"
    # only the daily sms rule: email free, sms capped until the 2-hour-old one is a day old.
    only_sms = ctx(rules=(sms_daily,), recent=recent)
    assert evaluate(req(), only_sms).status == "queued"
    assert evaluate(req(channel="sms", defer_when_capped=True), only_sms).until == NOW + timedelta(hours=22)


def test_messages_outside_the_window_do_not_count():
    rules = ctx(
        rules=(Rule("", 1, timedelta(days=1)),), recent=((NOW - timedelta(days=1, seconds=1), "email"),)
    )
    assert evaluate(req(), rules).status == "queued"


@pytest.mark.parametrize(
    ("channel", "raw", "normal"),
    [
        ("email", " Ann@Example.COM ", "ann@example.com"),
        ("sms", "+49 151-234", "+49151234"),
        ("push", "c1", "c1"),
    ],
)
def test_normalise_address(channel, raw, normal):
    assert normalise_address(channel, raw) == normal
