"""SPEC §4: every allowed and every forbidden transition, preconditions, audit rows, serialisation."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, CampaignTransition
from core.exceptions import ConflictError
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory

STATUSES = ["draft", "pending_approval", "active", "paused", "completed", "cancelled", "archived"]
ACTIONS = {
    # action: (allowed from, to)
    "activate": ({"draft"}, "active"),
    "pause": ({"active"}, "paused"),
    "resume": ({"paused"}, "active"),
    "complete": ({"active", "paused"}, "completed"),
    "cancel": ({"draft", "pending_approval", "active", "paused"}, "cancelled"),
    "approve": ({"pending_approval"}, "active"),
}
ALLOWED = [
    (action, status) for action, (sources, _) in ACTIONS.items() for status in STATUSES if status in sources
]
FORBIDDEN = [
    (action, status)
    for action, (sources, _) in ACTIONS.items()
    for status in STATUSES
    if status not in sources
]


@pytest.mark.parametrize(("action", "status"), ALLOWED)
def test_allowed_transition_answers_200_and_writes_one_audit_row(crm_client, make_campaign, action, status):
    campaign = make_campaign(status=status)
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/{action}/", {"note": "why"}, format="json")
    assert response.status_code == 200, response.json()
    target = ACTIONS[action][1]
    assert response.json()["status"] == target
    assert response.json()["id"] == campaign.pk
    transitions = list(CampaignTransition.objects.filter(campaign=campaign))
    assert len(transitions) == 1
    row = transitions[0]
    assert (row.from_status, row.to_status, row.actor, row.note) == (
        status,
        target,
        "api-key:test crm",
        "why",
    )
    assert row.created_at is not None
    campaign.refresh_from_db()
    assert campaign.version == 1  # a status change is not a configuration edit
    assert (campaign.completed_at is not None) == (target == "completed")


@pytest.mark.parametrize(("action", "status"), FORBIDDEN)
def test_forbidden_transition_is_a_409_and_changes_nothing(crm_client, make_campaign, action, status):
    campaign = make_campaign(status=status)
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/{action}/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert status in error["message"]
    campaign.refresh_from_db()
    assert campaign.status == status
    assert not CampaignTransition.objects.filter(campaign=campaign).exists()


def test_activation_needs_a_partner(crm_client, make_campaign):
    campaign = make_campaign(partner=None)
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/activate/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "partner_required"


def test_activation_needs_an_active_partner(crm_client, make_campaign):
    campaign = make_campaign(partner=PartnerFactory(is_active=False))
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/activate/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "partner_inactive"


def test_activation_needs_ends_at_in_the_future(crm_client, make_campaign):
    campaign = make_campaign(
        starts_at=timezone.now() - timedelta(days=5), ends_at=timezone.now() - timedelta(minutes=1)
    )
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/activate/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "campaign_ended"
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_resume_only_before_ends_at(crm_client, make_campaign):
    campaign = make_campaign(
        status="paused",
        starts_at=timezone.now() - timedelta(days=5),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    response = crm_client.post(f"/api/v1/campaigns/{campaign.pk}/resume/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "campaign_ended"
    # ...but it can still be completed or cancelled.
    assert crm_client.post(f"/api/v1/campaigns/{campaign.pk}/complete/").status_code == 200


def test_history_is_readable_through_the_api(crm_client, make_campaign):
    campaign = make_campaign()
    crm_client.post(f"/api/v1/campaigns/{campaign.pk}/activate/", {"note": "go"}, format="json")
    crm_client.post(f"/api/v1/campaigns/{campaign.pk}/pause/")
    body = crm_client.get(f"/api/v1/campaigns/{campaign.pk}/transitions/").json()
    assert [(r["from_status"], r["to_status"], r["actor"], r["note"]) for r in body["results"]] == [
        ("draft", "active", "api-key:test crm", "go"),
        ("active", "paused", "api-key:test crm", ""),
    ]
    assert all(r["created_at"] for r in body["results"])


def test_archive_only_from_completed(brand_a):
    for status in STATUSES:
        campaign = CampaignFactory(status=status)
        if status == "completed":
            archived = services.campaign_mark_archived(campaign_id=campaign.pk, actor="system")
            assert archived.status == "archived"
        else:
            with pytest.raises(ConflictError) as caught:
                services.campaign_mark_archived(campaign_id=campaign.pk, actor="system")
            assert caught.value.code == "invalid_transition"


def test_full_lifecycle_history(crm_client, make_campaign):
    campaign = make_campaign()
    for action in ("activate", "pause", "resume", "pause", "complete"):
        assert crm_client.post(f"/api/v1/campaigns/{campaign.pk}/{action}/").status_code == 200
    history = list(
        CampaignTransition.objects.filter(campaign=campaign).values_list("from_status", "to_status")
    )
    assert history == [
        ("draft", "active"),
        ("active", "paused"),
        ("paused", "active"),
        ("active", "paused"),
        ("paused", "completed"),
    ]


def test_concurrent_transitions_are_serialised(brands, db):
    """Two connections pause the same campaign at once: one wins, the other gets a 409; one audit row."""
    from django.db import connections

    from tests.campaigns.conftest import committed

    brand = brands["brand_a"]
    campaign = committed(brand.schema_name, lambda: CampaignFactory(status="active", name="race-campaign"))
    results: list[str] = []
    barrier = threading.Barrier(2)

    def pause() -> None:
        try:
            connection.set_tenant(brand)
            barrier.wait(timeout=5)
            services.campaign_pause(campaign_id=campaign.pk, actor="user:racer")
            results.append("ok")
        except ConflictError as exc:
            results.append(exc.code)
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=pause) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(results) == ["invalid_transition", "ok"]
        rows = committed(
            brand.schema_name, lambda: CampaignTransition.objects.filter(campaign_id=campaign.pk).count()
        )
        assert rows == 1
    finally:

        def cleanup() -> None:
            Campaign.objects.filter(pk=campaign.pk).delete()
            campaign.partner.delete()

        committed(brand.schema_name, cleanup)
