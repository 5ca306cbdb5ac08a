"""The event types the messages, experiments and budgets code emit (SPEC §15), in their transactions."""

from __future__ import annotations

from experiments.services import VariantSpec, experiment_conclude, experiment_create
from notifications.messages import tracking_event_record
from notifications.models import Message
from outbox.models import DomainEvent
from tests.campaigns.factories import CampaignFactory


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
