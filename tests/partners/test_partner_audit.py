"""Audit events of partners (created, updated, secret rotated) and dispatch replays (SPEC §18)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Max
from django.test import Client

from core.audit import REDACTED
from core.models import AuditEvent
from dispatches.services import dispatch_replay_dead
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory
from tests.dispatches.factories import make_dispatch
from tests.partners.factories import PartnerFactory, make_whsec

CRM_ACTOR = "api-key:test crm"  # the key of the `crm_client` fixture
URL = "/api/v1/partners/"


@pytest.fixture
def new_events(brand_a):
    last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
    return lambda: list(AuditEvent.objects.filter(id__gt=last).order_by("id"))


@pytest.fixture
def superuser_client(brand_a, django_user_model) -> Client:
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(django_user_model.objects.create_superuser("pat", "pat@brand-a.localhost", "pw"))
    return client


def body(**overrides):
    return {
        "slug": "acme",
        "name": "Acme Rewards",
        "submission_url": "http://127.0.0.1:8081/submissions",
        "auth_url": "http://127.0.0.1:8081/participate",
        **overrides,
    }


def test_create_records_the_partner_without_its_secret(crm_client, new_events):
    response = crm_client.post(URL, body(), format="json", HTTP_X_REQUEST_ID="req-p1")
    assert response.status_code == 201
    secret = response.json()["secret"]
    [event] = [e for e in new_events() if e.object_type == "partners.partner"]
    partner = Partner.objects.get(slug="acme")
    assert (event.action, event.actor, event.object_id, event.request_id) == (
        "partner.created",
        CRM_ACTOR,
        str(partner.pk),
        "req-p1",
    )
    assert event.changes["slug"] == {"before": None, "after": "acme"}
    assert event.changes["secret"] == {"before": None, "after": REDACTED}
    assert secret not in str(event.changes)


def test_edits_and_rotations_are_separate_actions(crm_client, new_events):
    partner = PartnerFactory(slug="acme", name="Acme")
    old_secret = partner.secret
    url = f"{URL}acme/"
    assert crm_client.patch(url, {"name": "Acme", "max_attempts": 8}, format="json").status_code == 200
    assert new_events() == []  # nothing changed

    crm_client.patch(url, {"name": "Acme Rewards", "timeout_seconds": 7}, format="json")
    [updated] = new_events()
    assert (updated.action, updated.actor) == ("partner.updated", CRM_ACTOR)
    assert updated.changes == {
        "name": {"before": "Acme", "after": "Acme Rewards"},
        "timeout_seconds": {"before": 5, "after": 7},
    }

    new_secret = make_whsec()
    assert crm_client.patch(url, {"secret": new_secret}, format="json").status_code == 200
    rotated = new_events()[-1]
    assert rotated.action == "partner.secret_rotated"
    assert rotated.changes == {"secret": {"before": REDACTED, "after": REDACTED}}
    assert old_secret not in str(rotated.changes) and new_secret not in str(rotated.changes)
    assert len(new_events()) == 2


def test_the_partner_history_page_lists_its_events(crm_client, superuser_client):
    partner = PartnerFactory(slug="acme", name="Acme")
    crm_client.patch(f"{URL}acme/", {"secret": make_whsec()}, format="json")
    page = superuser_client.get(f"/admin/partners/partner/{partner.pk}/history/").content.decode()
    assert "partner.secret_rotated" in page and CRM_ACTOR in page
    assert f"<td>{REDACTED}</td>" in page and "whsec_" not in page


def test_api_replay_of_a_dead_dispatch_is_audited(crm_client, partner, new_events):
    dispatch = make_dispatch(partner=partner, status="dead", attempts=3)
    assert crm_client.post(f"/api/v1/dispatches/{dispatch.id}/replay/").status_code == 200
    [event] = new_events()
    assert (event.action, event.actor, event.object_type, event.object_id) == (
        "dispatch.replayed",
        CRM_ACTOR,
        "dispatches.dispatch",
        str(dispatch.id),
    )
    assert event.changes == {
        "status": {"before": "dead", "after": "pending"},
        "replay_count": {"before": 0, "after": 1},
    }


def test_admin_replay_names_the_staff_user(superuser_client, partner, new_events):
    dispatch = make_dispatch(partner=partner, status="dead", attempts=3)
    superuser_client.post(
        "/admin/dispatches/dispatch/",
        {"action": "replay_dead", "_selected_action": [str(dispatch.id)], "replay_confirmed": "yes"},
    )
    [event] = new_events()
    assert (event.action, event.actor) == ("dispatch.replayed", "user:pat")


def test_bulk_replay_writes_one_event_per_dispatch(partner, new_events):
    campaign = CampaignFactory(partner=partner, status="active")
    dead = [make_dispatch(partner=partner, campaign=campaign, status="dead", attempts=3) for _ in range(3)]
    assert dispatch_replay_dead(actor="system", campaign_id=campaign.pk, chunk=2) == 3
    events = new_events()
    assert sorted(e.object_id for e in events) == sorted(str(d.id) for d in dead)
    assert {(e.action, e.actor) for e in events} == {("dispatch.replayed", "system")}


def test_the_replay_command_is_the_system(partner, new_events):
    dispatch = make_dispatch(partner=partner, status="dead", attempts=3)
    call_command(
        "replay_dead", schema="brand_a", campaign=dispatch.campaign_id, no_progress=True, stdout=StringIO()
    )
    [event] = new_events()
    assert (event.action, event.actor, event.object_id) == ("dispatch.replayed", "system", str(dispatch.id))
