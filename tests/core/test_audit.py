"""Audit events (SPEC §18): the writer, the change helpers and append-only rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

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
