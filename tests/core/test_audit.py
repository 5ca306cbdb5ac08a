"""Audit events (SPEC §18): the writer, the change helpers, append-only rows, the API and the admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from campaigns.models import Campaign, ItemRule
from campaigns.services import campaign_activate, campaign_update
from core.audit import (
    REDACTED,
    audit_events_of,
    audit_record,
    audit_record_many,
    changes_between,
    json_value,
    model_update,
    values_of,
)
from core.exceptions import ConflictError
from core.logging import request_id_var
from core.models import AuditEvent, AuditEventIsAppendOnly
from tests.campaigns.factories import CampaignFactory
from tests.partners.factories import PartnerFactory

HOST = "brand-a.localhost"
URL = "/api/v1/audit-events/"
WIDGET = "tests.widget"


def record(**overrides) -> AuditEvent:
    fields = {
        "actor": "user:alice",
        "action": "campaign.updated",
        "obj_or_type": "campaigns.campaign",
        "object_id": 1,
        "changes": {"name": {"before": "A", "after": "B"}},
    }
    return audit_record(**(fields | overrides))


# --------------------------------------------------------------------------- JSON values and model_update


def test_json_values_are_what_a_reader_expects():
    assert json_value(Decimal("0.50")) == json_value(Decimal("0.5")) == "0.5"
    assert json_value(Decimal("100")) == "100"
    assert json_value(Decimal("50.0000")) == "50"
    moment = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert json_value(moment) == "2026-12-01T10:00:00Z"
    assert json_value(Campaign.Status.ACTIVE) == "active"
    assert json_value({"value": Decimal("1.10"), "items": (1, None)}) == {"value": "1.1", "items": [1, None]}


def test_model_update_reports_only_real_changes(brand_a):
    campaign = CampaignFactory(min_purchase_value=Decimal("0.50"), name="Before")
    campaign.refresh_from_db()  # the column's Decimal("0.5000")
    same_instant = campaign.ends_at.astimezone(timezone.get_fixed_timezone(120))
    changes = model_update(
        campaign,
        {
            "min_purchase_value": Decimal("0.5"),  # equal as a number: no change
            "ends_at": same_instant,  # the same instant in another zone: no change
            "purchase_channels": list(campaign.purchase_channels),
            "name": "After",
            "version": 99,  # not in `fields`: ignored
        },
        fields=("min_purchase_value", "ends_at", "purchase_channels", "name"),
    )
    assert changes == {"name": {"before": "Before", "after": "After"}}
    assert campaign.name == "After" and campaign.version == 1


def test_model_update_compares_decimal_text_as_numbers(brand_a):
    campaign = CampaignFactory(min_purchase_value=Decimal("0.50"))
    assert model_update(campaign, {"min_purchase_value": "0.5"}) == {}
    assert model_update(campaign, {"min_purchase_value": "0.55"}) == {
        "min_purchase_value": {"before": "0.5", "after": "0.55"}
    }


def test_model_update_redacts_secrets_and_keeps_related_objects_readable(brand_a):
    partner = PartnerFactory(slug="old-partner")
    other = PartnerFactory(slug="new-partner")
    campaign = CampaignFactory(partner=partner)
    assert model_update(campaign, {"partner": other}) == {
        "partner": {"before": "old-partner", "after": "new-partner"}
    }
    assert model_update(partner, {"secret": partner.secret}, redact=("secret",)) == {}
    assert model_update(PartnerFactory(), {"secret": other.secret}, redact=("secret",)) == {
        "secret": {"before": REDACTED, "after": REDACTED}
    }


def test_model_update_drops_what_validation_normalises_back(brand_a):
    campaign = CampaignFactory(purchase_channels=["in_store"])

    def dedupe(instance):
        instance.purchase_channels = list(dict.fromkeys(instance.purchase_channels))

    assert model_update(campaign, {"purchase_channels": ["in_store", "in_store"]}, clean=dedupe) == {}
    assert model_update(campaign, {"purchase_channels": ["ecommerce", "ecommerce"]}, clean=dedupe) == {
        "purchase_channels": {"before": ["in_store"], "after": ["ecommerce"]}
    }


def test_changes_between_a_creation_and_a_deletion(brand_a):
    rule_values = {"kind": "blacklist", "value": "SKU-1", "multiplier": Decimal("1.50")}
    assert changes_between(None, rule_values) == {
        "kind": {"before": None, "after": "blacklist"},
        "value": {"before": None, "after": "SKU-1"},
        "multiplier": {"before": None, "after": "1.5"},
    }
    assert changes_between({"name": "X"}, None) == {"name": {"before": "X", "after": None}}
    assert values_of(PartnerFactory(), ("secret",), redact=("secret",)) == {"secret": REDACTED}


# --------------------------------------------------------------------------- audit_record


def test_audit_record_takes_the_request_id_from_the_logging_context(brand_a):
    token = request_id_var.set("req-audit-1")
    try:
        event = record()
    finally:
        request_id_var.reset(token)
    assert (event.request_id, record().request_id) == ("req-audit-1", "")
    assert record(request_id="explicit").request_id == "explicit"


def test_audit_record_names_the_object(brand_a):
    campaign = CampaignFactory()
    event = record(obj_or_type=campaign, object_id=None)
    assert (event.object_type, event.object_id) == ("campaigns.campaign", str(campaign.pk))
    event = record(obj_or_type=ItemRule, object_id=7)
    assert (event.object_type, event.object_id) == ("campaigns.itemrule", "7")
    assert list(audit_events_of(campaign)) == [AuditEvent.objects.get(object_id=str(campaign.pk))]


@pytest.mark.parametrize(
    "overrides",
    [
        {"actor": "admin:alice"},
        {"actor": ""},
        {"actor": "user:"},
        {"action": "activated"},
        {"action": "Campaign.Activated"},
        {"obj_or_type": "campaign"},
        {"object_id": None},
    ],
)
def test_audit_record_refuses_what_is_not_an_audit_event(brand_a, overrides):
    with pytest.raises(ValueError):
        record(**overrides)


def test_audit_record_many_writes_one_row_per_object(brand_a):
    campaigns = [CampaignFactory(), CampaignFactory()]
    token = request_id_var.set("req-many")
    try:
        events = audit_record_many(
            actor="system",
            action="campaign.touched",
            entries=[(c, {"name": {"before": None, "after": c.name}}) for c in campaigns],
        )
    finally:
        request_id_var.reset(token)
    assert [e.object_id for e in events] == [str(c.pk) for c in campaigns]
    assert AuditEvent.objects.filter(action="campaign.touched", request_id="req-many").count() == 2


def test_the_event_is_part_of_the_services_transaction(brand_a):
    campaign = CampaignFactory(partner=None)
    before = AuditEvent.objects.count()
    with pytest.raises(ConflictError):
        campaign_activate(campaign_id=campaign.pk, actor="user:alice")  # no partner: 409
    assert AuditEvent.objects.count() == before
    assert campaign_update(campaign_id=campaign.pk, actor="user:alice", data={"name": campaign.name})
    assert AuditEvent.objects.count() == before  # nothing changed, nothing recorded


# --------------------------------------------------------------------------- append-only


def test_audit_events_cannot_be_changed_or_deleted(brand_a):
    event = record()
    event.action = "campaign.rewritten"
    with pytest.raises(AuditEventIsAppendOnly):
        event.save()
    with pytest.raises(AuditEventIsAppendOnly):
        event.delete()
    with pytest.raises(AuditEventIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(actor="user:mallory")
    with pytest.raises(AuditEventIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE core_auditevent SET actor = 'user:mallory' WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
    ],
)
def test_the_database_refuses_to_rewrite_history(brand_a, statement):
    event = record()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).actor == "user:alice"


def test_the_table_exists_in_public_too(brands, db):
    connection.set_schema_to_public()
    event = audit_record(actor="system", action="brand.checked", obj_or_type="tenants.brand", object_id=1)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --------------------------------------------------------------------------- API


@pytest.fixture
def events(brand_a):
    """Four events about two objects, an hour apart (oldest first).

    Of a type no service writes: tests that commit (races, browser) leave their audit rows behind,
    since nothing may delete them.
    """
    start = timezone.now() - timedelta(hours=10)
    rows = [
        AuditEvent.objects.create(  # `at` in the past: written directly, not through audit_record
            at=start + timedelta(hours=hours),
            actor=actor,
            action=action,
            object_type=WIDGET,
            object_id=str(object_id),
            changes={"name": {"before": "A", "after": "B"}},
        )
        for hours, (actor, action, object_id) in enumerate(
            [
                ("user:alice", "widget.created", "w1"),
                ("api-key:crm", "widget.updated", "w1"),
                ("user:alice", "widget.activated", "w2"),
                ("system", "widget.completed", "w2"),
            ]
        )
    ]
    return {"start": start, "ids": [event.pk for event in rows]}


def test_crm_lists_audit_events_newest_first(crm_client, events):
    response = crm_client.get(URL, {"object_type": WIDGET})
    assert response.status_code == 200
    body = response.json()
    ids = [row["id"] for row in body["results"]]
    assert ids == events["ids"][::-1]
    first = body["results"][0]
    assert set(first) == {"id", "at", "actor", "action", "object_type", "object_id", "changes", "request_id"}
    assert first["changes"] == {"name": {"before": "A", "after": "B"}}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"object_type": WIDGET, "object_id": "w2"}, [3, 2]),
        ({"object_type": WIDGET, "actor": "user:alice"}, [2, 0]),
        ({"action": "widget.updated"}, [1]),
        ({"object_type": "tests.gadget"}, []),
        ({"object_id": "w1"}, [1, 0]),
    ],
)
def test_filters(crm_client, events, query, expected):
    response = crm_client.get(URL, query)
    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == [events["ids"][index] for index in expected]


def test_time_window_from_inclusive_to_exclusive(crm_client, events):
    start = events["start"]
    query = {
        "object_type": WIDGET,
        "from": (start + timedelta(hours=1)).isoformat(),
        "to": (start + timedelta(hours=3)).isoformat(),
    }
    ids = [row["id"] for row in crm_client.get(URL, query).json()["results"]]
    assert ids == [events["ids"][2], events["ids"][1]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-45T00:00:00Z"}, "to"),
        ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "to"),
    ],
)
def test_bad_time_filters_are_400_in_the_error_shape(crm_client, query, field):
    response = crm_client.get(URL, query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_ingest_keys_and_anonymous_callers_cannot_read_the_trail(brand_a, make_api_client, tenant_client):
    assert make_api_client("brand_a", "ingest").get(URL).status_code == 403
    response = tenant_client.get(URL)
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_staff_sessions_need_the_view_permission(brand_a, django_user_model, events):
    user = django_user_model.objects.create_user("auditor", password="pw", is_staff=True)
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    assert client.get(URL).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    assert client.get(URL).status_code == 200
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="CRM viewer"))
    client.force_login(viewer)
    assert client.get(URL).status_code == 200


def test_brand_b_events_are_not_visible_on_brand_a_host(brands, make_api_client, events):
    with tenant_context(brands["brand_b"]):
        secret_event = audit_record(
            actor="user:bob", action="partner.secret_rotated", obj_or_type="partners.partner", object_id=1
        )
        assert AuditEvent.objects.filter(pk=secret_event.pk, actor="user:bob").exists()
    client_a = make_api_client("brand_a", "crm")
    actors = {row["actor"] for row in client_a.get(URL, {"page_size": 500}).json()["results"]}
    assert "user:bob" not in actors
    assert client_a.get(URL, {"actor": "user:bob"}).json()["results"] == []
    rows_b = make_api_client("brand_b", "crm").get(URL, {"actor": "user:bob"}).json()["results"]
    assert [row["action"] for row in rows_b] == ["partner.secret_rotated"]


def test_the_endpoint_is_in_the_openapi_document(crm_client):
    schema = crm_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/audit-events/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"object_type", "object_id", "actor", "from", "to", "action", "page"} <= names
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    assert "AuditEvent" in schema["components"]["schemas"]


# --------------------------------------------------------------------------- admin


@pytest.fixture
def superuser_client(brand_a, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("root", "root@brand-a.localhost", "pw")
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


ADMIN = "/admin/core/auditevent/"


def test_admin_list_is_read_only_even_for_superusers(superuser_client):
    event = record(changes={"min_purchase_value": {"before": "50", "after": "25.5"}})
    listing = superuser_client.get(ADMIN)
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "campaign.updated" in page and "Add audit event" not in page
    assert superuser_client.get(f"{ADMIN}add/").status_code == 403
    assert superuser_client.get(f"{ADMIN}{event.pk}/delete/").status_code == 403
    detail = superuser_client.get(f"{ADMIN}{event.pk}/change/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert '<table class="audit-changes">' in html and "<th scope='row'>min purchase value</th>" in html
    assert '"before"' not in html  # a table, not JSON
    assert 'name="_save"' not in html
    response = superuser_client.post(f"{ADMIN}{event.pk}/change/", {"actor": "user:mallory"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).actor == "user:alice"


def test_admin_filters_and_date_hierarchy(superuser_client, events):
    year = events["start"].year
    for query in (
        "action=widget.updated",
        f"object_type={WIDGET}",
        "actor=system",
        f"at__year={year}",
    ):
        assert superuser_client.get(f"{ADMIN}?{query}").status_code == 200, query
    listed = superuser_client.get(f"{ADMIN}?actor=system&object_type={WIDGET}").context["cl"].result_list
    assert [event.action for event in listed] == ["widget.completed"]


def test_campaign_history_page_shows_its_audit_events(superuser_client):
    campaign = CampaignFactory(name="Spring")
    campaign_update(campaign_id=campaign.pk, actor="user:root", data={"name": "Summer"})
    page = superuser_client.get(f"/admin/campaigns/campaign/{campaign.pk}/history/").content.decode()
    assert "campaign.updated" in page and "user:root" in page
    assert "<td>Spring</td><td>Summer</td>" in page


def test_history_needs_the_audit_view_permission(brand_a, django_user_model):
    campaign = CampaignFactory()
    user = django_user_model.objects.create_user("looker", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/history/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/history/").status_code == 200
