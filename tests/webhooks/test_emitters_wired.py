"""The event types the messages, experiments, budgets and promotions code emit (SPEC §15), in their transactions."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from core.exceptions import ConflictError
from experiments.services import VariantSpec, experiment_conclude, experiment_create
from notifications.messages import tracking_event_record
from notifications.models import Message
from outbox.models import DomainEvent
from promotions.services import redemption_commit, redemption_create, redemption_rollback
from promotions.validation import parse_redemption_request
from tests.campaigns.factories import CampaignFactory
from tests.promotions.conftest import redemption_body
from tests.promotions.factories import PromoCodeFactory
from webhooks.services import webhook_fan_out_and_send


def test_message_bounced_is_emitted_with_the_message(make_endpoint):
    make_endpoint(event_types=["message.bounced"])
    message = Message.objects.create(
        customer_id="c-1", channel="email", status="sent", provider_message_id="pm-1", subject="x"
    )
    tracking_event_record(
        event_type="bounced", provider_message_id="pm-1", recipient="ann@example.com", description="550 gone"
    )
    [event] = DomainEvent.objects.filter(event_type="message.bounced")
    assert event.data["message_id"] == str(message.pk)
    assert event.data["customer_id"] == "c-1" and event.data["description"] == "550 gone"


def test_a_delivery_event_is_not_a_bounce(make_endpoint):
    make_endpoint(event_types=["message.bounced"])
    Message.objects.create(customer_id="c-1", channel="email", status="sent", provider_message_id="pm-2")
    tracking_event_record(event_type="delivered", provider_message_id="pm-2", recipient="")
    assert not DomainEvent.objects.filter(event_type="message.bounced").exists()


def test_experiment_concluded_names_the_winner(make_endpoint):
    make_endpoint(event_types=["experiment.concluded"])
    campaign = CampaignFactory()
    experiment = experiment_create(
        campaign=campaign, actor="system", variants=[VariantSpec("A"), VariantSpec("B")]
    )
    experiment_conclude(experiment_id=experiment.pk, actor="user:ana", winner="B")
    [event] = DomainEvent.objects.filter(event_type="experiment.concluded")
    assert event.data == {"experiment_id": experiment.pk, "campaign_id": campaign.pk, "winner": "B"}


def _redeem(code, customer_id="c-1", mode="reserve", key="k-1"):
    request = parse_redemption_request(redemption_body(code.code, customer_id=customer_id, mode=mode))
    return redemption_create(actor="system", idempotency_key=key, request=request)[0]


def test_redemption_committed_and_rolled_back_reach_the_brands_webhook(make_endpoint, receiver):
    _endpoint, secret = make_endpoint(event_types=["redemption.committed", "redemption.rolled_back"])
    receiver.expect_request("/hooks", method="POST").respond_with_data("ok")
    code = PromoCodeFactory(code="HOOK10", max_redemptions=3)
    reserved = _redeem(code)
    assert not DomainEvent.objects.exists()  # a reservation is not an event: its commit is
    redemption_commit(actor="system", redemption_id=reserved.pk)
    redemption_rollback(actor="user:ana", redemption_id=reserved.pk, reason="refund")
    at_once = _redeem(code, customer_id="c-2", mode="commit", key="k-2")
    emitted = [(e.event_type, e.data["redemption_id"]) for e in DomainEvent.objects.order_by("occurred_at")]
    assert emitted == [
        ("redemption.committed", reserved.pk),
        ("redemption.rolled_back", reserved.pk),
        ("redemption.committed", at_once.pk),
    ]
    assert webhook_fan_out_and_send().sent == 3
    bodies = [
        Webhook(secret).verify(request.get_data(), dict(request.headers)) for request, _ in receiver.log
    ]
    rolled = next(body for body in bodies if body["type"] == "redemption.rolled_back")
    assert rolled["data"] == {
        "redemption_id": reserved.pk,
        "code": "HOOK10",
        "campaign_id": code.campaign_id,
        "customer_id": "c-1",
        "order_ref": "order-1",
        "status": "rolled_back",
        "discount": "6.00",
        "currency": "EUR",
        "reason": "refund",
    }


def test_a_refused_redemption_emits_nothing(make_endpoint):

    make_endpoint(event_types=["redemption.committed"])
    code = PromoCodeFactory(redeemed_count=1)
    with pytest.raises(ConflictError):
        _redeem(code, mode="commit")
    assert not DomainEvent.objects.exists()
