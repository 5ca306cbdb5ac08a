"""Every SPEC §15 event type that exists today is emitted by the service that causes it, in its transaction."""

from __future__ import annotations

from decimal import Decimal

from awards.services import AwardData, award_receive
from campaigns.models import Campaign
from campaigns.services import campaign_activate, campaign_pause
from core.actors import SYSTEM_ACTOR
from customers.models import Segment
from customers.services import segment_compute
from dispatches.services import dispatch_send_batch
from outbox.events import SUBSCRIBABLE_EVENT_TYPES
from outbox.models import DomainEvent
from purchases.services import purchases_evaluate
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.purchases.factories import make_purchase


def _events(event_type):
    return list(DomainEvent.objects.filter(event_type=event_type).order_by("occurred_at"))


def test_purchase_evaluated_carries_each_evaluation(make_endpoint, partner):
    make_endpoint(event_types=["purchase.evaluated"])
    campaign = CampaignFactory(partner=partner, status=Campaign.Status.ACTIVE)
    purchases = [make_purchase(), make_purchase(currency="USD")]
    purchases_evaluate(purchase_ids=[p.pk for p in purchases])
    emitted = {e.data["external_id"]: e.data for e in _events("purchase.evaluated")}
    assert set(emitted) == {p.external_id for p in purchases}
    eligible = emitted[purchases[0].external_id]
    assert eligible["customer_id"] == purchases[0].customer_id
    assert eligible["evaluations"] == [
        {
            "campaign_id": campaign.pk,
            "campaign_version": campaign.version,
            "eligible": True,
            "eligible_value": "60.00",
            "reason": None,
        }
    ]
    assert emitted[purchases[1].external_id]["evaluations"][0]["reason"] == "currency_mismatch"


def test_purchase_evaluated_is_not_written_without_a_subscriber(make_endpoint, partner):
    make_endpoint(event_types=["award.created"])
    CampaignFactory(partner=partner, status=Campaign.Status.ACTIVE)
    purchases_evaluate(purchase_ids=[make_purchase().pk])
    assert not DomainEvent.objects.exists()


def test_dispatch_sent_and_dispatch_dead(make_endpoint, partner, httpserver):
    make_endpoint(event_types=["dispatch.sent", "dispatch.dead"])
    httpserver.expect_oneshot_request("/submissions").respond_with_data("ok")
    httpserver.expect_request("/submissions").respond_with_data("no", status=422)
    sent, dead = make_dispatch(partner=partner), make_dispatch(partner=partner)
    dispatch_send_batch(dispatch_ids=[sent.pk])
    dispatch_send_batch(dispatch_ids=[dead.pk])
    [sent_event] = _events("dispatch.sent")
    assert sent_event.data["dispatch_id"] == str(sent.pk)
    assert sent_event.data["campaign_id"] == sent.campaign_id and sent_event.data["status_code"] == 200
    [dead_event] = _events("dispatch.dead")
    assert dead_event.data["dispatch_id"] == str(dead.pk) and "HTTP 422" in dead_event.data["error"]


def test_award_created_once(make_endpoint, partner):
    make_endpoint(event_types=["award.created"])
    campaign = CampaignFactory(partner=partner, status=Campaign.Status.ACTIVE)
    data = AwardData(
        award_id="aw-9",
        customer_id="c-1",
        campaign_id=campaign.pk,
        reward_type="voucher",
        value=Decimal("5.00"),
        currency="EUR",
        voucher_code="V-1",
    )
    award_receive(partner=partner, webhook_id="msg-1", data=data)
    award_receive(partner=partner, webhook_id="msg-1", data=data)  # replayed: nothing new
    [event] = _events("award.created")
    assert event.data["award_id"] == "aw-9" and event.data["value"] == "5.00"
    assert event.data["voucher_code"] == "V-1" and event.data["campaign_id"] == campaign.pk


def test_campaign_status_changed_on_every_transition(make_endpoint, partner):
    make_endpoint(event_types=["campaign.status_changed"])
    campaign = CampaignFactory(partner=partner)
    campaign_activate(campaign_id=campaign.pk, actor=SYSTEM_ACTOR)
    campaign_pause(campaign_id=campaign.pk, actor=SYSTEM_ACTOR)
    assert [(e.data["from"], e.data["to"]) for e in _events("campaign.status_changed")] == [
        ("draft", "active"),
        ("active", "paused"),
    ]


def test_segment_computed(make_endpoint):
    make_endpoint(event_types=["segment.computed"])
    segment = Segment.objects.create(
        name="Everyone", kind="dynamic", definition={"attr": "country", "op": "eq", "value": "ES"}
    )
    segment_compute(segment_id=segment.pk)
    [event] = _events("segment.computed")
    assert event.data["segment_id"] == segment.pk and event.data["size"] == 0


def test_the_event_types_are_spec_section_15s():
    assert SUBSCRIBABLE_EVENT_TYPES == (
        "purchase.evaluated",
        "dispatch.sent",
        "dispatch.dead",
        "award.created",
        "campaign.status_changed",
        "budget.threshold",
        "redemption.committed",
        "redemption.rolled_back",
        "message.bounced",
        "experiment.concluded",
        "segment.computed",
    )
