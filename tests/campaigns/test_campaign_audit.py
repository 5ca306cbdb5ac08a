"""The audit events of the campaign services (SPEC §18): one per change, with its fields before → after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Max
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, CampaignTransition
from core.models import AuditEvent
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory


@pytest.fixture
def new_events(brand_a):
    """`new_events()` → the audit events written since the fixture was made, oldest first."""
    last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0

    def read() -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(id__gt=last).order_by("id"))

    return read


CRM_ACTOR = "api-key:test crm"  # the key of the `crm_client` fixture


def only(events: list[AuditEvent]) -> AuditEvent:
    assert len(events) == 1, [(e.action, e.object_id) for e in events]
    return events[0]


def test_create_through_the_api_records_who_what_and_the_request_id(crm_client, campaign_payload, new_events):
    response = crm_client.post(
        "/api/v1/campaigns/", campaign_payload, format="json", HTTP_X_REQUEST_ID="req-c1"
    )
    assert response.status_code == 201
    event = only([e for e in new_events() if e.object_type == "campaigns.campaign"])
    assert (event.action, event.actor, event.request_id) == ("campaign.created", CRM_ACTOR, "req-c1")
    assert event.object_id == str(response.json()["id"])
    assert event.changes["name"] == {"before": None, "after": "Christmas 2026"}
    assert event.changes["min_purchase_value"] == {"before": None, "after": "50"}
    assert event.changes["partner"] == {"before": None, "after": "acme-rewards"}
    assert event.changes["status"] == {"before": None, "after": "draft"}
    assert event.changes["version"] == {"before": None, "after": 1}


def test_an_edit_records_the_changed_fields_and_the_version(crm_client, make_campaign, new_events):
    campaign = make_campaign(name="Before")
    url = f"/api/v1/campaigns/{campaign.pk}/"
    # The same amount written differently, and the same channels: no change, no event, no new version.
    same = {"min_purchase_value": "50.0", "purchase_channels": ["in_store", "ecommerce"]}
    assert crm_client.patch(url, same, format="json").json()["version"] == 1
    assert new_events() == []

    assert (
        crm_client.patch(url, {"name": "After", "min_purchase_value": "25.50"}, format="json").status_code
        == 200
    )
    event = only(new_events())
    assert (event.action, event.object_id) == ("campaign.updated", str(campaign.pk))
    assert event.changes == {
        "name": {"before": "Before", "after": "After"},
        "min_purchase_value": {"before": "50", "after": "25.5"},
        "version": {"before": 1, "after": 2},
    }


def test_delete_keeps_what_the_draft_was(brand_a, new_events):
    campaign = CampaignFactory(name="Gone")
    campaign_id = campaign.pk
    services.campaign_delete(campaign_id=campaign_id, actor="user:alice")
    event = only(new_events())
    assert (event.action, event.object_id, event.actor) == (
        "campaign.deleted",
        str(campaign_id),
        "user:alice",
    )
    assert event.changes["name"] == {"before": "Gone", "after": None}
    assert not Campaign.objects.filter(pk=campaign_id).exists()


def test_duplicate_is_one_event_on_the_copy(brand_a, new_events):
    source = ItemRuleFactory().campaign
    ItemRuleFactory(campaign=source)
    copy = services.campaign_duplicate(campaign_id=source.pk, actor="user:alice")
    event = only(new_events())
    assert (event.action, event.object_id) == ("campaign.duplicated", str(copy.pk))
    assert event.changes["duplicated_from"] == {"before": None, "after": source.pk}
    assert event.changes["item_rule_count"] == {"before": None, "after": 2}
    assert event.changes["name"]["after"] == f"{source.name} (copy)"
    assert CampaignTransition.objects.get(campaign=copy).note == f"duplicated from campaign {source.pk}"


@pytest.mark.parametrize(
    ("action", "start", "audit_action", "end"),
    [
        ("activate", "draft", "campaign.activated", "active"),
        ("pause", "active", "campaign.paused", "paused"),
        ("resume", "paused", "campaign.resumed", "active"),
        ("cancel", "draft", "campaign.cancelled", "cancelled"),
    ],
)
def test_each_transition_writes_its_audit_event_and_its_transition_row(
    crm_client, make_campaign, new_events, action, start, audit_action, end
):
    campaign = make_campaign(status=start)
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/{action}/", {"note": "why"}, format="json")
    assert response.status_code == 200, response.json()
    event = only(new_events())
    assert (event.action, event.actor) == (audit_action, CRM_ACTOR)
    assert event.changes == {"status": {"before": start, "after": end}}
    transition = CampaignTransition.objects.filter(campaign=campaign).latest("id")
    assert (transition.from_status, transition.to_status, transition.note) == (start, end, "why")


def test_completion_records_completed_at_and_the_system_completes_expired_ones(brand_a, new_events):
    campaign = CampaignFactory(status="active", ends_at=timezone.now() + timedelta(days=1))
    later = timezone.now() + timedelta(days=2)
    assert services.campaigns_complete_expired(now=later) >= 1
    event = only([e for e in new_events() if e.object_id == str(campaign.pk)])
    assert (event.action, event.actor) == ("campaign.completed", "system")
    assert event.changes["status"] == {"before": "active", "after": "completed"}
    assert event.changes["completed_at"]["before"] is None
    assert event.changes["completed_at"]["after"].startswith(later.date().isoformat())


def test_item_rule_events_are_on_the_campaign(crm_client, make_campaign, new_events):
    campaign = make_campaign()
    url = f"/api/v1/campaigns/{campaign.pk}/item-rules/"
    rule = crm_client.post(url, {"kind": "whitelist", "match": "sku", "value": "SKU-1"}, format="json").json()
    key = f"item_rules[{rule['id']}]"
    added = only(new_events())
    assert (added.action, added.object_type, added.object_id) == (
        "item_rule.added",
        "campaigns.campaign",
        str(campaign.pk),
    )
    assert added.changes == {
        key: {
            "before": None,
            "after": {
                "kind": "whitelist",
                "match": "sku",
                "value": "SKU-1",
                "multiplier": "1",
                "bonus_per_unit": "0",
            },
        },
        "version": {"before": 1, "after": 2},
    }

    crm_client.patch(f"{url}{rule['id']}/", {"multiplier": "1.0"}, format="json")  # the same number
    assert len(new_events()) == 1
    crm_client.patch(f"{url}{rule['id']}/", {"multiplier": "2.50"}, format="json")
    updated = new_events()[-1]
    assert updated.action == "item_rule.updated"
    assert updated.changes == {
        f"{key}.multiplier": {"before": "1", "after": "2.5"},
        "version": {"before": 2, "after": 3},
    }

    assert crm_client.delete(f"{url}{rule['id']}/").status_code == 204
    removed = new_events()[-1]
    assert removed.action == "item_rule.removed"
    assert removed.changes[key]["after"] is None and removed.changes[key]["before"]["multiplier"] == "2.5"

    csv = "kind,match,value\nblacklist,sku,A\nblacklist,sku,B\n"
    response = crm_client.post(f"{url}import/", csv, content_type="text/csv")
    assert response.status_code == 201, response.json()
    imported = new_events()[-1]
    assert imported.action == "item_rules.imported"
    assert imported.changes == {
        "item_rule_count": {"before": 0, "after": 2},
        "version": {"before": 4, "after": 5},
    }
    assert len(new_events()) == 4


def test_a_rejected_import_records_nothing(crm_client, make_campaign, new_events):
    campaign = make_campaign()
    response = crm_client.post(
        f"/api/v1/campaigns/{campaign.pk}/item-rules/import/",
        "kind,match,value\nnope,sku,A\n",
        content_type="text/csv",
    )
    assert response.status_code == 400
    assert new_events() == []


def test_admin_edits_are_recorded_as_the_staff_user(brand_a, django_user_model, new_events):
    user = django_user_model.objects.create_superuser("carla", "carla@brand-a.localhost", "pw")
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    campaign = CampaignFactory(status="active")
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/pause/")
    assert response.status_code == 302
    event = only(new_events())
    assert (event.action, event.actor) == ("campaign.paused", "user:carla")
    assert event.request_id  # the admin request's id, as in the logs
