"""The executor's steps one by one: waits (duration, local time), wait_for_event (event, timeout),
branch, split through an experiment, sends through the gate, exit events, re-entry, versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from experiments.models import Assignment
from experiments.services import VariantSpec, experiment_create
from journeys import flow
from journeys.executor import enrollments_advance_due
from journeys.models import Enrollment, StepRun
from journeys.services import journey_activate, journey_enroll, journey_pause, journey_update
from notifications.models import FrequencyRule, Message, Preference
from tests.campaigns.factories import CampaignFactory
from tests.journeys.helpers import ACTOR, active_journey, customers, ingest, send, welcome_flow

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def runs(enrollment: Enrollment) -> list[tuple[str, str, str]]:
    return list(
        StepRun.objects.filter(enrollment=enrollment)
        .order_by("id")
        .values_list("step__key", "outcome", "detail")
    )


def test_wait_until_a_local_time_uses_the_customers_timezone_else_the_brands(brand_a, monkeypatch):
    monkeypatch.setattr(brand_a, "timezone", "America/New_York")
    active_journey(
        [{"key": "ten", "kind": "wait", "until_local_time": "10:00", "next": "hi"}, send("hi")],
        entry={"event": "join"},
    )
    customers(1, prefix="tokyo", timezone="Asia/Tokyo")
    customers(1, prefix="plain")
    with time_machine.travel(T0, tick=False):  # 09:00 UTC = 18:00 in Tokyo
        ingest("join", ["tokyo00000", "plain00000"], T0)
        enrollments_advance_due()
    tokyo = Enrollment.objects.get(customer_id="tokyo00000")
    plain = Enrollment.objects.get(customer_id="plain00000")
    assert tokyo.next_run_at == datetime(2026, 5, 5, 1, 0, tzinfo=UTC)  # 10:00 tomorrow in Tokyo
    assert plain.next_run_at == datetime(2026, 5, 4, 14, 0, tzinfo=UTC)  # the brand's zone: 10:00 EDT today
    with time_machine.travel(datetime(2026, 5, 4, 14, 0, tzinfo=UTC), tick=False):
        assert enrollments_advance_due() == 1
    plain.refresh_from_db()
    assert plain.state == "completed" and runs(plain)[0][:2] == ("ten", "waited")


def test_wait_ends_at_across_a_dst_change():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29 02:00 → 03:00 in Berlin. At 01:30 local the next 10:00 is the same day, CEST.
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert flow.wait_ends_at(
        now=now, seconds=None, local_time=datetime(2026, 1, 1, 10).time(), zone=berlin
    ) == (datetime(2026, 3, 29, 8, 0, tzinfo=UTC))
    assert flow.wait_ends_at(now=now, seconds=60, local_time=None, zone=berlin) == now + timedelta(seconds=60)


def test_wait_for_event_goes_on_when_it_arrives_else_on_timeout(brand_a):
    journey = active_journey(
        [
            {
                "key": "reply",
                "kind": "wait_for_event",
                "event": "open",
                "timeout_seconds": 86400,
                "next": "glad",
                "timeout_next": "again",
            },
            send("glad"),
            send("again"),
        ],
        entry={"event": "join"},
    )
    ids = customers(2, prefix="w")
    with time_machine.travel(T0, tick=False):
        ingest("open", ids[:1], T0 - timedelta(minutes=5), tag="before")  # before the wait: does not count
        ingest("join", ids, T0)
        enrollments_advance_due()
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"waiting"}
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        ingest("open", ids[:1], T0 + timedelta(hours=3), tag="after")
        woken = Enrollment.objects.get(customer_id=ids[0])
        assert woken.next_run_at == T0 + timedelta(hours=3)  # the event woke it at once
        assert enrollments_advance_due() == 1
    first = Enrollment.objects.get(customer_id=ids[0])
    assert [r[:2] for r in runs(first)] == [("reply", "event"), ("glad", "sent")]
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        assert enrollments_advance_due() == 1
    second = Enrollment.objects.get(customer_id=ids[1])
    assert [r[:2] for r in runs(second)] == [("reply", "timeout"), ("again", "sent")]
    assert journey.steps.get(key="reply", version=1).timeout_seconds == 86400


def test_an_exit_event_ends_the_enrollment_at_once(brand_a):
    active_journey(exit_event="unsubscribe_all")
    ids = customers(3, prefix="x")
    with time_machine.travel(T0, tick=False):
        ingest("signup", ids, T0)
        enrollments_advance_due()
        ingest("unsubscribe_all", ids[:2], T0 + timedelta(seconds=1))
    states = dict(Enrollment.objects.values_list("customer_id", "state"))
    assert states == {ids[0]: "exited", ids[1]: "exited", ids[2]: "waiting"}
    assert set(Enrollment.objects.filter(state="exited").values_list("exit_reason", flat=True)) == {
        "exit_event"
    }
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        assert enrollments_advance_due() == 1  # only the one still on the journey


def test_re_entry_never_and_after_days(brand_a):
    never = active_journey([send("hi")], name="Never", entry={"event": "visit"})
    again = active_journey(
        [send("hi")], name="Weekly", entry={"event": "visit"}, re_entry="after_days", re_entry_days=7
    )
    customers(1, prefix="r")
    for day in (0, 1, 8):
        at = T0 + timedelta(days=day)
        with time_machine.travel(at, tick=False):
            ingest("visit", ["r00000"], at, tag=str(day))
            enrollments_advance_due()
    assert Enrollment.objects.filter(journey=never).count() == 1
    assert Enrollment.objects.filter(journey=again).count() == 2  # day 0 and day 8, not day 1
    with time_machine.travel(T0 + timedelta(days=9), tick=False), pytest.raises(Exception) as raised:
        journey_enroll(journey_id=never.pk, customer_id="r00000", actor=ACTOR)
    assert getattr(raised.value, "code", "") == "re_entry_not_allowed"


def test_a_capped_or_unsubscribed_customer_moves_on_and_the_skip_is_recorded(brand_a):
    active_journey([send("first", "second"), send("second", "third", channel="email"), send("third")])
    customers(1, prefix="plain")
    customers(1, prefix="capped", email="capped@example.com")
    customers(1, prefix="optout", email="optout@example.com")
    Preference.objects.create(customer_id="optout00000", channel="email", topic="", opted_in=False)
    FrequencyRule.objects.create(channel="", max_messages=2, window_hours=24)
    with time_machine.travel(T0, tick=False):
        ingest("signup", ["plain00000", "capped00000", "optout00000"], T0)
        enrollments_advance_due()
    by = {e.customer_id: runs(e) for e in Enrollment.objects.all()}
    assert by["optout00000"] == [
        ("first", "sent", "in_app"),
        ("second", "skipped", "unsubscribed"),
        ("third", "sent", "in_app"),
    ]
    assert by["plain00000"][1] == ("second", "skipped", "no_address")
    assert by["capped00000"] == [
        ("first", "sent", "in_app"),
        ("second", "sent", "email"),
        ("third", "skipped", "frequency_capped"),
    ]
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"completed"}
    skipped = Message.objects.get(customer_id="capped00000", journey_step__endswith=":third")
    assert (skipped.status, skipped.skip_reason) == ("skipped", "frequency_capped")


def test_split_assigns_through_the_experiment_sticky_and_counted(brand_a):
    campaign = CampaignFactory(status="active")
    experiment = experiment_create(
        campaign=campaign, variants=[VariantSpec("A"), VariantSpec("B")], actor=ACTOR, coverage=Decimal(1)
    )
    journey = active_journey(
        [
            {"key": "ab", "kind": "split", "experiment_id": experiment.pk, "variants": {"A": "a", "B": "b"}},
            send("a"),
            send("b"),
        ],
        campaign=campaign.pk,
    )
    ids = customers(200, prefix="s")
    with time_machine.travel(T0, tick=False):
        ingest("signup", ids, T0)
        enrollments_advance_due()
    assigned = dict(Assignment.objects.filter(experiment=experiment).values_list("customer_id", "variant"))
    assert len(assigned) == 200 and set(assigned.values()) == {"A", "B"}
    for message in Message.objects.filter(journey_step__startswith=f"{journey.pk}:"):
        assert message.journey_step == f"{journey.pk}:{assigned[message.customer_id].lower()}"
        assert (message.campaign_id, message.variant) == (campaign.pk, assigned[message.customer_id])
    assert dict(Enrollment.objects.values_list("customer_id", "variant")) == assigned


def test_editing_an_active_journey_makes_a_version_and_enrollments_keep_theirs(brand_a):
    journey = active_journey()
    customers(2, prefix="v")
    with time_machine.travel(T0, tick=False):
        ingest("signup", ["v00000"], T0)
        enrollments_advance_due()
    journey = journey_update(journey_id=journey.pk, data={"steps": [send("only")]}, actor=ACTOR)
    assert journey.version == 2
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        ingest("signup", ["v00001"], T0 + timedelta(hours=1))
        enrollments_advance_due()
    old, new = Enrollment.objects.get(customer_id="v00000"), Enrollment.objects.get(customer_id="v00001")
    assert (old.version, old.state, old.step_key) == (1, "waiting", "pause")
    assert (new.version, new.state, [r[0] for r in runs(new)]) == (2, "completed", ["only"])
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        enrollments_advance_due()
    old.refresh_from_db()
    assert [r[0] for r in runs(old)][:3] == ["welcome", "pause", "bought"]  # still the first version's steps


def test_a_paused_journey_takes_no_one_and_runs_nothing(brand_a):
    journey = active_journey()
    customers(2, prefix="p")
    with time_machine.travel(T0, tick=False):
        ingest("signup", ["p00000"], T0)
        enrollments_advance_due()
    journey_pause(journey_id=journey.pk, actor=ACTOR)
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        ingest("signup", ["p00001"], T0 + timedelta(days=3))
        assert enrollments_advance_due() == 0
    assert Enrollment.objects.count() == 1
    journey_activate(journey_id=journey.pk, actor=ACTOR)
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        assert enrollments_advance_due() == 1
    assert Enrollment.objects.get().state == "exited"


def test_send_message_ids_are_derived_from_the_step_run(brand_a):
    active_journey(welcome_flow())
    customers(1, prefix="id")
    with time_machine.travel(T0, tick=False):
        ingest("signup", ["id00000"], T0)
        enrollments_advance_due()
    enrollment = Enrollment.objects.get()
    run = StepRun.objects.get(enrollment=enrollment, step__key="welcome")
    expected = flow.send_message_id(schema="brand_a", enrollment_id=enrollment.pk, step_id=run.step_id)
    assert run.message_id == expected and Message.objects.filter(pk=expected).exists()


def test_a_send_renders_its_templates_for_each_customer(brand_a):
    campaign = CampaignFactory(name="Spring club")
    active_journey(
        [send("hi", subject="Hello {{ customer.customer_id }}",
              body_text="Welcome to {{ campaign.name }}, from {{ customer.country|default:'here' }}.")],
        entry={"event": "join"}, campaign=campaign.pk,
    )  # fmt: skip
    customers(1, prefix="es", country="ES")
    customers(1, prefix="xx")
    with time_machine.travel(T0, tick=False):
        ingest("join", ["es00000", "xx00000"], T0)
        enrollments_advance_due()
    texts = dict(Message.objects.values_list("customer_id", "body_text"))
    assert texts == {
        "es00000": "Welcome to Spring club, from ES.",
        "xx00000": "Welcome to Spring club, from here.",
    }
    assert Message.objects.get(customer_id="es00000").subject == "Hello es00000"


def test_a_send_with_an_unknown_variable_is_refused_on_its_step(brand_a):
    from core.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        active_journey([send("hi", body_text="Hi {{ customer.first_name }}")], entry={"event": "join"})
    assert "{{ customer.first_name }} not a variable" in " ".join(caught.value.fields["steps[0].body_text"])


def test_a_text_that_fails_to_render_is_dead_lettered_and_the_journey_goes_on(brand_a, monkeypatch):
    from core.templating import NotificationRenderError
    from journeys import sending

    def broken(*args, **kwargs):
        raise NotificationRenderError("ValueError: boom")

    monkeypatch.setattr(sending, "render_message_template", broken)
    active_journey([send("hi", "bye", body_text="Hi {{ customer.customer_id }}"), send("bye")],
                   entry={"event": "join"})  # fmt: skip
    customers(1, prefix="rd")
    with time_machine.travel(T0, tick=False):
        ingest("join", ["rd00000"], T0)
        enrollments_advance_due()
    dead = Message.objects.get(customer_id="rd00000", journey_step__endswith=":hi")
    assert (dead.status, dead.last_error) == ("dead", "render: ValueError: boom")
    enrollment = Enrollment.objects.get(customer_id="rd00000")
    assert runs(enrollment)[0] == ("hi", "skipped", "render: ValueError: boom")
    assert (
        Message.objects.get(customer_id="rd00000", journey_step__endswith=":bye").status == "delivered"
    )  # in-app
