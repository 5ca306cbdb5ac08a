"""Every service that takes an `actor` writes exactly one audit event per call (SPEC §18).

The walk finds every public function of every `services.py` in the project
whose signature has a keyword-only `actor`, and demands a case below for each:
a new service with an actor and no case fails `test_every_service_taking_an_actor_has_a_case`.
Each case prepares what the service needs; the test then calls the service
itself and expects one new `AuditEvent` with the case's action, the actor and
the request id of the logging context.
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from campaigns.models import Campaign
from core.logging import request_id_var
from core.models import AuditEvent
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory
from tests.partners.factories import PartnerFactory

ACTOR = "user:walker"
NOT_SERVICES = ("tests", "bench")


def services_in(module: types.ModuleType) -> dict[str, Callable]:
    """Public functions defined in `module` that take a keyword-only `actor`."""
    found = {}
    for name, function in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        if function.__module__ != module.__name__:
            continue  # imported from elsewhere: walked where it is defined
        parameter = inspect.signature(function).parameters.get("actor")
        if parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            found[f"{module.__name__}.{name}"] = function
    return found


def services_taking_an_actor() -> dict[str, Callable]:
    root = Path(settings.BASE_DIR)
    found: dict[str, Callable] = {}
    for path in sorted([*root.glob("*/services.py"), *root.glob("*/*/services.py")]):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in NOT_SERVICES or parts[0].startswith("."):
            continue
        found |= services_in(importlib.import_module(".".join(parts)))
    return found


@dataclass(frozen=True)
class Case:
    action: str
    # Builds what the service needs and returns its other keyword arguments.
    arrange: Callable[[], dict[str, Any]]


def _campaign(**fields) -> Campaign:
    return CampaignFactory(**fields)


def _create_kwargs() -> dict[str, Any]:
    now = timezone.now()
    return {
        "name": "Walked",
        "kind": "custom",
        "starts_at": now,
        "ends_at": now + timedelta(days=3),
        "purchase_channels": ["in_store"],
        "currency": "EUR",
        "partner": PartnerFactory(),
    }


def _dead_notification_id() -> Any:
    from awards.services import AwardData, award_receive
    from notifications.models import Notification

    campaign = _campaign(status="active")
    award, _ = award_receive(
        partner=campaign.partner,
        webhook_id="msg-walk",
        data=AwardData(award_id="aw-walk", customer_id="c-1", campaign_id=campaign.pk, reward_type="voucher"),
    )
    notification = Notification.objects.get(award=award)
    Notification.objects.filter(pk=notification.pk).update(status=Notification.Status.DEAD, attempts=8)
    return notification.pk


def _one_dead_notification() -> dict[str, Any]:
    from notifications.models import Notification

    return {"campaign_id": Notification.objects.get(pk=_dead_notification_id()).campaign_id}


def _rule_change() -> dict[str, Any]:
    rule = ItemRuleFactory()
    return {"campaign_id": rule.campaign_id, "rule_id": rule.pk, "data": {"multiplier": "2"}}


def _previewed_csv() -> dict[str, Any]:
    from campaigns.selectors import item_rules_csv_preview

    campaign_id = _campaign().pk
    _parsed, plan = item_rules_csv_preview(campaign_id=campaign_id, content=CSV, remove_missing=False)
    return {
        "campaign_id": campaign_id,
        "content": CSV,
        "remove_missing": False,
        "expected_digest": plan.digest,
    }


def _rule_removal() -> dict[str, Any]:
    rule = ItemRuleFactory()
    return {"campaign_id": rule.campaign_id, "rule_id": rule.pk}


CSV = "kind,match,value\nblacklist,sku,WALK-1\nwhitelist,category,toys\n"

CASES: dict[str, Case] = {
    "accounts.services.api_key_create": Case("api_key.created", lambda: {"name": "walk", "role": "crm"}),
    "campaigns.services.campaign_create": Case("campaign.created", _create_kwargs),
    "campaigns.services.campaign_update": Case(
        "campaign.updated", lambda: {"campaign_id": _campaign().pk, "data": {"name": "Renamed"}}
    ),
    "campaigns.services.campaign_delete": Case("campaign.deleted", lambda: {"campaign_id": _campaign().pk}),
    "campaigns.services.campaign_duplicate": Case(
        "campaign.duplicated", lambda: {"campaign_id": ItemRuleFactory().campaign_id}
    ),
    "campaigns.services.campaign_activate": Case(
        "campaign.activated", lambda: {"campaign_id": _campaign().pk}
    ),
    "campaigns.services.campaign_pause": Case(
        "campaign.paused", lambda: {"campaign_id": _campaign(status="active").pk}
    ),
    "campaigns.services.campaign_resume": Case(
        "campaign.resumed", lambda: {"campaign_id": _campaign(status="paused").pk}
    ),
    "campaigns.services.campaign_complete": Case(
        "campaign.completed", lambda: {"campaign_id": _campaign(status="active").pk}
    ),
    "campaigns.services.campaign_approve": Case(
        "campaign.approved",
        lambda: {"campaign_id": _campaign(status="pending_approval", approval_requested_by="user:asker").pk},
    ),
    "campaigns.services.campaigns_bulk": Case(
        "campaign.paused", lambda: {"action": "pause", "ids": [_campaign(status="active").pk]}
    ),
    "campaigns.services.campaign_cancel": Case(
        "campaign.cancelled", lambda: {"campaign_id": _campaign().pk, "note": "season over"}
    ),
    "campaigns.services.campaign_mark_archived": Case(
        "campaign.archived", lambda: {"campaign_id": _campaign(status="completed").pk}
    ),
    "campaigns.services.item_rule_add": Case(
        "item_rule.added",
        lambda: {"campaign_id": _campaign().pk, "kind": "blacklist", "match": "sku", "value": "S"},
    ),
    "campaigns.services.item_rule_update": Case("item_rule.updated", _rule_change),
    "campaigns.services.item_rule_remove": Case("item_rule.removed", _rule_removal),
    "campaigns.services.item_rules_import_csv": Case(
        "item_rules.imported", lambda: {"campaign_id": _campaign().pk, "content": CSV}
    ),
    "campaigns.services.item_rules_apply_csv": Case("item_rules.imported", _previewed_csv),
    "notifications.services.notification_replay": Case(
        "notification.replayed", lambda: {"notification_id": _dead_notification_id()}
    ),
    "notifications.services.notifications_replay_dead": Case("notification.replayed", _one_dead_notification),
}


def _dead_dispatch() -> Any:
    from dispatches.models import Dispatch
    from tests.dispatches.factories import make_dispatch

    return make_dispatch(partner=PartnerFactory(), status=Dispatch.Status.DEAD, attempts=8)


def _one_dead_dispatch() -> dict[str, Any]:
    return {"campaign_id": _dead_dispatch().campaign_id}


def _partner_create() -> dict[str, Any]:
    return {
        "slug": "walked",
        "name": "Walked",
        "submission_url": "http://127.0.0.1:9/s",
        "auth_url": "http://127.0.0.1:9/a",
    }


def _refundable_purchase() -> dict[str, Any]:
    from tests.purchases.factories import PurchaseFactory

    purchase = PurchaseFactory(evaluated_at=timezone.now())
    return {"external_id": purchase.external_id, "body": None}


def _dead_retraction() -> dict[str, Any]:
    from dispatches.models import Dispatch, Retraction

    dispatch = _dead_dispatch()
    Dispatch.objects.filter(pk=dispatch.pk).update(status=Dispatch.Status.SENT)
    retraction = Retraction.objects.create(
        dispatch=dispatch,
        partner=dispatch.partner,
        reason="below_minimum",
        eligible_value=0,
        campaign_version=1,
        refunded_at=timezone.now(),
        status=Retraction.Status.DEAD,
        attempts=8,
    )
    return {"retraction_id": retraction.pk}


CASES |= {
    "purchases.services.purchase_refund": Case("purchase.refunded", _refundable_purchase),
    "dispatches.services.retraction_replay": Case("retraction.replayed", _dead_retraction),
}


CASES |= {
    "partners.services.partner_create": Case("partner.created", _partner_create),
    "partners.services.partner_update": Case(
        "partner.updated", lambda: {"partner_id": PartnerFactory().pk, "data": {"name": "Renamed"}}
    ),
    "dispatches.services.dispatch_replay": Case(
        "dispatch.replayed", lambda: {"dispatch_id": _dead_dispatch().pk}
    ),
    "dispatches.services.dispatch_replay_dead": Case("dispatch.replayed", _one_dead_dispatch),
}


def _customer_to_erase() -> dict[str, Any]:
    from customers.services import customers_ensure

    customers_ensure(customer_ids=["walk-erase"])
    return {"customer_id": "walk-erase"}


def _segment(**fields) -> Any:
    from customers.models import Segment

    return Segment.objects.create(
        name=fields.pop("name", "Walked segment"),
        definition={} if fields.get("kind") == "static" else {"attr": "country", "op": "eq", "value": "ES"},
        **fields,
    )


CASES |= {
    "customers.services.customers_upsert": Case(
        "customer.created", lambda: {"bodies": [{"customer_id": "walk-c1", "country": "ES"}]}
    ),
    "customers.services.customer_upsert": Case(
        "customer.created", lambda: {"customer_id": "walk-c2", "body": {"locale": "es"}}
    ),
    "customers.services.customer_erase": Case("customer.erased", lambda: _customer_to_erase()),
    "customers.services.segment_create": Case(
        "segment.created",
        lambda: {"name": "Walk", "definition": {"attr": "country", "op": "eq", "value": "ES"}},
    ),
    "customers.services.segment_update": Case(
        "segment.updated", lambda: {"segment_id": _segment().pk, "data": {"name": "Renamed"}}
    ),
    "customers.services.segment_delete": Case("segment.deleted", lambda: {"segment_id": _segment().pk}),
    "customers.services.segment_compute_request": Case(
        "segment.compute_requested", lambda: {"segment_id": _segment().pk}
    ),
    "customers.services.segment_members_import_csv": Case(
        "segment.members_imported",
        lambda: {"segment_id": _segment(kind="static").pk, "content": "customer_id\nwalk-m1\n"},
    ),
}


def _webhook_endpoint():
    from webhooks.services import webhook_endpoint_create

    # Port 9 (discard) on loopback: refused at once, so the test send needs no receiver.
    return webhook_endpoint_create(
        actor="system", url="http://127.0.0.1:9/hooks", event_types=["award.created"]
    ).endpoint


def _dead_webhook_delivery() -> dict[str, Any]:
    from outbox.models import DomainEvent
    from webhooks.models import WebhookDelivery

    event = DomainEvent.objects.create(event_type="award.created", data={}, occurred_at=timezone.now())
    delivery = WebhookDelivery.objects.create(
        endpoint=_webhook_endpoint(), event=event, event_type="award.created", status="dead", attempts=8
    )
    return {"delivery_id": delivery.id}


CASES |= {
    "webhooks.services.webhook_endpoint_create": Case(
        "webhook_endpoint.created",
        lambda: {"url": "http://127.0.0.1:9/hooks", "event_types": ["segment.computed"]},
    ),
    "webhooks.services.webhook_endpoint_update": Case(
        "webhook_endpoint.updated",
        lambda: {"endpoint_id": _webhook_endpoint().pk, "data": {"description": "walked"}},
    ),
    "webhooks.services.webhook_endpoint_delete": Case(
        "webhook_endpoint.deleted", lambda: {"endpoint_id": _webhook_endpoint().pk}
    ),
    "webhooks.services.webhook_endpoint_rotate_secret": Case(
        "webhook_endpoint.secret_rotated", lambda: {"endpoint_id": _webhook_endpoint().pk}
    ),
    "webhooks.services.webhook_endpoint_test": Case(
        "webhook_endpoint.tested", lambda: {"endpoint_id": _webhook_endpoint().pk}
    ),
    "webhooks.services.webhook_delivery_replay": Case("webhook_delivery.replayed", _dead_webhook_delivery),
}


def _experiment() -> Any:
    from experiments.services import VariantSpec, experiment_create

    return experiment_create(
        campaign=_campaign(),
        actor="system",
        variants=[VariantSpec("A"), VariantSpec("B", message_title="Hi")],
    )


def _experiment_create_kwargs() -> dict[str, Any]:
    from experiments.services import VariantSpec

    return {"campaign": _campaign(), "variants": [VariantSpec("A"), VariantSpec("B")]}


CASES |= {
    "experiments.services.experiment_create": Case("experiment.created", _experiment_create_kwargs),
    "experiments.services.experiment_conclude": Case(
        # The control has no overrides: nothing to roll out, so the campaign edit (its own audit row,
        # campaign.updated) does not happen here; tests/experiments covers the rollout.
        "experiment.concluded",
        lambda: {"experiment_id": _experiment().pk, "winner": "A"},
    ),
    "experiments.services.experiment_rerandomise": Case(
        "experiment.rerandomised", lambda: {"experiment_id": _experiment().pk}
    ),
}


def test_the_walk_finds_a_service_that_takes_an_actor():
    module = types.ModuleType("somewhere.services")

    def thing_change(*, thing_id: int, actor: str) -> None: ...

    def thing_read(*, thing_id: int) -> None: ...

    def _thing_helper(*, actor: str) -> None: ...

    for function in (thing_change, thing_read, _thing_helper):
        function.__module__ = module.__name__
        setattr(module, function.__name__, function)
    assert list(services_in(module)) == ["somewhere.services.thing_change"]


def test_every_service_taking_an_actor_has_a_case():
    found = services_taking_an_actor()
    assert len(found) >= 15, sorted(found)  # the walk itself works
    missing = sorted(set(found) - set(CASES))
    stale = sorted(set(CASES) - set(found))
    assert not missing, f"services taking an actor without an audit case in {__name__}: {missing}"
    assert not stale, f"cases for services that no longer take an actor: {stale}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_service_writes_exactly_one_audit_event(brand_a, name):
    service = services_taking_an_actor().get(name)
    assert service is not None, f"{name} does not take an actor (any more)"
    case = CASES[name]
    kwargs = case.arrange()
    last_id = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    token = request_id_var.set(f"walk-{name}"[:64])
    try:
        service(actor=ACTOR, **kwargs)
    finally:
        request_id_var.reset(token)
    events = list(AuditEvent.objects.filter(id__gt=last_id))
    assert [event.action for event in events] == [case.action]
    event = events[0]
    assert (event.actor, event.request_id) == (ACTOR, f"walk-{name}"[:64])
    assert event.object_type and event.object_id
    assert event.changes, "an audit event says what changed"


def _promo_code() -> Any:
    from tests.promotions.factories import PromoCodeFactory

    return PromoCodeFactory(max_redemptions=5)


def _redemption_request(code: str, order_ref: str = "walk-order") -> Any:
    from promotions.validation import parse_redemption_request
    from tests.promotions.conftest import redemption_body

    return parse_redemption_request(redemption_body(code, order_ref=order_ref))


def _reserved_redemption(order_ref: str = "walk-order") -> Any:
    from promotions.services import redemption_create

    redemption, _created = redemption_create(
        actor="system",
        idempotency_key=f"walk-{order_ref}",
        request=_redemption_request(_promo_code().code, order_ref),
    )
    return redemption


def _code_batch_kwargs() -> dict[str, Any]:
    from promotions.services import BatchInput

    campaign = _campaign(kind="promotion", status="active")
    return {
        "campaign_id": campaign.pk,
        "data": BatchInput(count=10, benefit={"type": "percent", "value": "10"}),
    }


def _code_batch() -> Any:
    from promotions.services import code_batch_create

    return code_batch_create(actor="system", **_code_batch_kwargs())


CASES |= {
    "promotions.services.redemption_create": Case(
        "redemption.reserved",
        lambda: {"idempotency_key": "walk-create", "request": _redemption_request(_promo_code().code)},
    ),
    "promotions.services.redemption_commit": Case(
        "redemption.committed", lambda: {"redemption_id": _reserved_redemption().pk}
    ),
    "promotions.services.redemption_rollback": Case(
        "redemption.rolled_back", lambda: {"redemption_id": _reserved_redemption().pk, "reason": "walk"}
    ),
    "promotions.services.redemptions_rollback_for_order": Case(
        "redemption.rolled_back",
        lambda: {"order_ref": _reserved_redemption("walk-refund").order_ref, "reason": "refund"},
    ),
    "promotions.services.code_batch_create": Case("code_batch.created", _code_batch_kwargs),
    "promotions.services.code_batch_generate_resume": Case(
        "code_batch.generation_resumed", lambda: {"batch_id": _code_batch().pk}
    ),
    # A selection of one code: one event (a selection of n codes writes n, one per code).
    "promotions.services.codes_set_active": Case(
        "promo_code.deactivated", lambda: {"active": False, "code_ids": [_promo_code().pk]}
    ),
}


def _allocation_request() -> dict[str, Any]:
    from analytics.services import AllocationRequest

    return {"total": Decimal(500), "campaigns": [AllocationRequest(_campaign(status="active").pk)]}


def _allocation_to_apply() -> dict[str, Any]:
    """One line whose proposal equals the campaign's spend budget already: the apply writes no budget (nothing
    changes), so its one audit row is the allocation's (budget writes have their own case)."""
    from analytics.services import AllocationRequest, budget_allocation_create
    from campaigns.budgets import budget_set

    campaign = _campaign(status="active")
    budget_set(campaign_id=campaign.pk, actor="system", kind="spend", limit=Decimal(500))
    allocation = budget_allocation_create(
        actor="system", total=Decimal(500), campaigns=[AllocationRequest(campaign.pk)]
    )
    return {"allocation_id": allocation.pk}


CASES |= {
    "analytics.services.budget_allocation_create": Case("budget_allocation.created", _allocation_request),
    "analytics.services.budget_allocation_apply": Case("budget_allocation.applied", _allocation_to_apply),
}


def _draft(channel: str = "push", approved: bool = False) -> Any:
    from content.services import draft_approve, drafts_generate

    draft = drafts_generate(
        channel=channel, brief="Walk", facts={"product": "boots"}, actor="system"
    ).drafts.get()
    if approved:
        draft_approve(draft_id=draft.pk, actor="system")
    return draft


def _campaign_message_for_draft() -> dict[str, Any]:
    from notifications.models import CampaignMessage

    message = CampaignMessage.objects.create(
        campaign=_campaign(), name="Walk", first_channel="push", push_body="x"
    )
    return {"draft_id": _draft(approved=True).pk, "campaign_message_id": message.pk}


CASES |= {
    "content.services.drafts_generate": Case(
        "content.generated", lambda: {"channel": "sms", "brief": "Walk", "facts": {"discount": "10%"}}
    ),
    "content.services.draft_approve": Case("draft.approved", lambda: {"draft_id": _draft().pk}),
    "content.services.draft_reject": Case("draft.rejected", lambda: {"draft_id": _draft().pk}),
    "content.services.draft_use_in_campaign_message": Case(
        "campaign_message.content_from_draft", _campaign_message_for_draft
    ),
    "content.services.draft_use_in_variant": Case(
        "variant.content_from_draft",
        lambda: {"draft_id": _draft(approved=True).pk, "experiment_id": _experiment().pk, "variant_key": "B"},
    ),
    "content.services.content_settings_update": Case(
        "content_settings.updated",
        lambda: {
            "locale": "es",
            "allowed_link_hosts": "brand.example",
            "blocked_terms": "",
            "sms_max_segments": 1,
        },
    ),
}


def _journey(status: str = "draft") -> Any:
    from journeys.services import journey_activate, journey_create

    journey = journey_create(
        data={
            "name": f"Walked journey {status}",
            "entry": {"event": "walk-signup"},
            "steps": [{"key": "hello", "kind": "send", "channel": "in_app", "body_text": "Hello"}],
        },
        actor="system",
    )
    if status == "active":
        journey = journey_activate(journey_id=journey.pk, actor="system")
    return journey


CASES |= {
    "journeys.services.journey_create": Case(
        "journey.created",
        lambda: {
            "data": {
                "name": "Walk journey",
                "entry": {"event": "walk"},
                "steps": [{"key": "bye", "kind": "exit"}],
            }
        },
    ),
    "journeys.services.journey_update": Case(
        "journey.updated",
        lambda: {"journey_id": _journey("active").pk, "data": {"steps": [{"key": "bye", "kind": "exit"}]}},
    ),
    "journeys.services.journey_activate": Case("journey.activated", lambda: {"journey_id": _journey().pk}),
    "journeys.services.journey_pause": Case("journey.paused", lambda: {"journey_id": _journey("active").pk}),
    "journeys.services.journey_enroll": Case(
        "journey.enrolled", lambda: {"journey_id": _journey("active").pk, "customer_id": "walk-journeyer"}
    ),
}
