"""SPEC §2 campaign endpoints: shapes, validation errors (400 with the field), roles, filters, versions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from campaigns.models import Campaign, CampaignTransition
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory

URL = "/api/v1/campaigns/"


def detail(campaign_id: int) -> str:
    return f"{URL}{campaign_id}/"


def test_create_answers_201_with_the_draft(crm_client, campaign_payload):
    response = crm_client.post(URL, campaign_payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["version"] == 1
    assert body["name"] == "Christmas 2026"
    assert body["partner"] == "acme-rewards"
    assert body["min_purchase_value"] == "50.00"
    assert body["reward"] == {"type": "voucher", "value": "10.00", "description": "10 € off"}
    assert body["notification"]["title"] == "You won!"
    assert set(body) == {
        "id", "name", "kind", "status", "starts_at", "ends_at", "purchase_channels", "currency",
        "min_purchase_value", "partner", "reward", "notification", "segment", "eligibility", "attribution_window_hours",
        "max_rewards_per_customer", "version", "created_at", "updated_at",
    }  # fmt: skip
    campaign = Campaign.objects.get(pk=body["id"])
    transition = CampaignTransition.objects.get(campaign=campaign)
    assert (transition.from_status, transition.to_status) == ("", "draft")
    assert transition.actor == "api-key:test crm"


def test_read_only_fields_are_ignored_on_create(crm_client, campaign_payload):
    response = crm_client.post(
        URL, {**campaign_payload, "id": 999999, "status": "active", "version": 42}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != 999999
    assert body["status"] == "draft"
    assert body["version"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"kind": "easter"}, "kind"),
        ({"ends_at": None}, "ends_at"),
        ({"purchase_channels": []}, "purchase_channels"),
        ({"purchase_channels": ["in_store", "telepathy"]}, "purchase_channels"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"min_purchase_value": "-1"}, "min_purchase_value"),
        ({"min_purchase_value": "abc"}, "min_purchase_value"),
        ({"min_purchase_value": "1.001"}, "min_purchase_value"),  # EUR has 2 decimals
        ({"partner": "nobody"}, "partner"),
        ({"reward": {"type": "cash", "value": "1"}}, "reward"),
        ({"reward": {"type": "voucher"}}, "reward"),
        ({"reward": "ten euros"}, "reward"),
        ({"notification": {"title": "Hi"}}, "notification"),
        ({"notification": {"title": "x" * 201, "body": "b"}}, "notification"),
        ({"starts_at": "yesterday"}, "starts_at"),
    ],
)
def test_each_invalid_field_is_a_400_naming_it(crm_client, campaign_payload, change, field):
    response = crm_client.post(URL, {**campaign_payload, **change}, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error


def test_ends_at_must_be_after_starts_at(crm_client, campaign_payload):
    body = {**campaign_payload, "ends_at": campaign_payload["starts_at"]}
    response = crm_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert "ends_at" in response.json()["error"]["fields"]


def test_missing_required_fields_are_each_named(crm_client):
    response = crm_client.post(URL, {}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    for field in ("name", "kind", "starts_at", "ends_at", "purchase_channels", "currency"):
        assert field in fields


def test_name_is_unique_per_tenant_but_not_across_tenants(
    crm_client, make_api_client, campaign_payload, brand_b
):
    assert crm_client.post(URL, campaign_payload, format="json").status_code == 201
    again = crm_client.post(URL, campaign_payload, format="json")
    assert again.status_code == 400
    assert "name" in again.json()["error"]["fields"]

    # Brand B has its own partner with the same slug and may use the same campaign name.
    with tenant_context(brand_b):
        from tests.partners.factories import PartnerFactory

        PartnerFactory(slug="acme-rewards")
    client_b = make_api_client("brand_b", "crm")
    response_b = client_b.post(URL, campaign_payload, format="json")
    assert response_b.status_code == 201, response_b.json()
    connection.set_schema_to_public()


def test_name_taken_under_a_race_is_a_400_not_a_500(crm_client, campaign_payload, monkeypatch):
    """The serializer's check passes (the other request has not committed yet); the unique index decides."""
    from campaigns import services

    CampaignFactory(name="Christmas 2026")
    monkeypatch.setattr(services.Campaign, "validate_unique", lambda self, exclude=None: None)
    monkeypatch.setattr("rest_framework.validators.UniqueValidator.__call__", lambda self, value, field: None)
    response = crm_client.post(URL, campaign_payload, format="json")
    assert response.status_code == 400, response.content
    assert "name" in response.json()["error"]["fields"]


def test_get_put_patch(crm_client, campaign_payload):
    created = crm_client.post(URL, campaign_payload, format="json").json()
    assert crm_client.get(detail(created["id"])).json() == created

    patched = crm_client.patch(detail(created["id"]), {"min_purchase_value": "75.5"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["min_purchase_value"] == "75.50"
    assert patched.json()["version"] == 2

    put_body = {**campaign_payload, "name": "Renamed", "status": "completed", "version": 1}
    replaced = crm_client.put(detail(created["id"]), put_body, format="json")
    assert replaced.status_code == 200, replaced.json()
    assert replaced.json()["name"] == "Renamed"
    assert replaced.json()["status"] == "draft"  # status is read-only
    assert replaced.json()["version"] == 3


def test_put_needs_every_required_field(crm_client, campaign_payload):
    created = crm_client.post(URL, campaign_payload, format="json").json()
    response = crm_client.put(detail(created["id"]), {"name": "Only a name"}, format="json")
    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]


def test_patch_that_changes_nothing_keeps_the_version(crm_client, campaign_payload):
    created = crm_client.post(URL, campaign_payload, format="json").json()
    response = crm_client.patch(detail(created["id"]), {"name": created["name"]}, format="json")
    assert response.json()["version"] == 1


def test_patch_validation_uses_the_stored_values(crm_client, campaign_payload):
    created = crm_client.post(URL, campaign_payload, format="json").json()
    response = crm_client.patch(
        detail(created["id"]), {"ends_at": campaign_payload["starts_at"]}, format="json"
    )
    assert response.status_code == 400
    assert "ends_at" in response.json()["error"]["fields"]


def test_active_campaign_cannot_lose_its_partner(crm_client, make_campaign):
    campaign = make_campaign(status="active")
    response = crm_client.patch(detail(campaign.pk), {"partner": None}, format="json")
    assert response.status_code == 400
    assert "partner" in response.json()["error"]["fields"]


@pytest.mark.parametrize("status", ["completed", "cancelled", "archived"])
def test_closed_campaigns_cannot_be_edited(crm_client, make_campaign, status):
    campaign = make_campaign(status=status)
    response = crm_client.patch(detail(campaign.pk), {"name": "Too late"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "campaign_not_editable"


def test_delete_only_draft(crm_client, make_campaign):
    draft = make_campaign()
    ItemRuleFactory(campaign=draft)
    assert crm_client.delete(detail(draft.pk)).status_code == 204
    assert not Campaign.objects.filter(pk=draft.pk).exists()
    for status in ("active", "paused", "completed", "cancelled", "archived"):
        campaign = make_campaign(status=status)
        response = crm_client.delete(detail(campaign.pk))
        assert response.status_code == 409, status
        assert response.json()["error"]["code"] == "campaign_not_draft"
        assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_unknown_campaign_is_a_json_404(crm_client):
    for method in ("get", "patch", "delete"):
        response = getattr(crm_client, method)(detail(987654))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert crm_client.post(f"{detail(987654)}activate/").status_code == 404


def test_list_is_paginated_and_filtered(crm_client, make_campaign):
    for index in range(3):
        make_campaign(kind="christmas", name=f"X{index}")
    make_campaign(kind="carnival", status="active", name="Carnival")
    make_campaign(kind="carnival", status="paused", name="Carnival paused")

    body = crm_client.get(URL, {"page_size": 2}).json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"]

    assert crm_client.get(URL, {"kind": "carnival"}).json()["count"] == 2
    active = crm_client.get(URL, {"status": "active"}).json()
    assert [c["name"] for c in active["results"]] == ["Carnival"]
    assert crm_client.get(URL, {"status": "active", "kind": "christmas"}).json()["count"] == 0


def test_bad_filter_value_is_a_400(crm_client):
    response = crm_client.get(URL, {"status": "sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_roles(make_api_client, tenant_client, campaign_payload):
    ingest = make_api_client("brand_a", "ingest")
    assert ingest.get(URL).status_code == 403
    assert ingest.post(URL, campaign_payload, format="json").status_code == 403
    assert tenant_client.get(URL).status_code == 401


def test_key_of_another_brand_is_401(make_api_client, brand_a):
    client_b = make_api_client("brand_b", "crm")
    client_b.defaults["HTTP_HOST"] = "brand-a.localhost"
    assert client_b.get(URL).status_code == 401


def test_tenant_staff_session_may_use_the_api(tenant_client, campaign_payload, django_user_model):
    from django.contrib.auth.models import Group

    staff = django_user_model.objects.create_user("crm-person", password="pw", is_staff=True)
    staff.groups.add(Group.objects.get(name="CRM editor"))
    tenant_client.force_login(staff)
    response = tenant_client.post(URL, campaign_payload, format="json")
    assert response.status_code == 201
    transition = CampaignTransition.objects.get(campaign_id=response.json()["id"])
    assert transition.actor == "user:crm-person"
    assert tenant_client.post(f"{detail(response.json()['id'])}activate/").status_code == 200


def test_superuser_session_may_use_the_api(tenant_client, campaign_payload, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", password="pw")
    tenant_client.force_login(admin)
    assert tenant_client.post(URL, campaign_payload, format="json").status_code == 201


def test_viewer_session_reads_but_cannot_change_through_the_api(
    tenant_client, campaign_payload, make_campaign, django_user_model
):
    """The same rules as the admin: a CRM viewer sees campaigns and changes nothing."""
    from django.contrib.auth.models import Group

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="CRM viewer"))
    tenant_client.force_login(viewer)
    campaign = make_campaign()
    assert tenant_client.get(URL).status_code == 200
    assert tenant_client.get(detail(campaign.pk)).status_code == 200
    assert tenant_client.get(f"{detail(campaign.pk)}item-rules/").status_code == 200
    assert tenant_client.get("/api/v1/partners/").status_code == 200
    for method, url, body in [
        ("post", URL, campaign_payload),
        ("patch", detail(campaign.pk), {"name": "x"}),
        ("delete", detail(campaign.pk), None),
        ("post", f"{detail(campaign.pk)}activate/", None),
        ("post", f"{detail(campaign.pk)}duplicate/", None),
        ("post", f"{detail(campaign.pk)}item-rules/", {"kind": "blacklist", "match": "sku", "value": "A"}),
        ("post", "/api/v1/partners/", {"slug": "p"}),
    ]:
        response = getattr(tenant_client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url)
        assert response.json()["error"]["code"] == "permission_denied"
    campaign.refresh_from_db()
    assert (campaign.status, campaign.version, campaign.item_rules.count()) == ("draft", 1, 0)


def test_campaigns_are_invisible_to_another_brand(crm_client, make_api_client, make_campaign):
    campaign = make_campaign()
    client_b = make_api_client("brand_b", "crm")
    assert client_b.get(detail(campaign.pk)).status_code in (404,)
    assert client_b.get(URL).json()["count"] == 0


def test_duplicate_copies_configuration_and_rules(crm_client, make_campaign):
    source = make_campaign(name="Summer", status="active")
    ItemRuleFactory(campaign=source, value="A")
    ItemRuleFactory(campaign=source, value="B", kind="whitelist", multiplier="2")
    response = crm_client.post(f"{detail(source.pk)}duplicate/")
    assert response.status_code == 201
    copy = response.json()
    assert copy["name"] == "Summer (copy)"
    assert copy["status"] == "draft"
    assert copy["version"] == 1
    assert copy["partner"] == source.partner.slug
    rules = crm_client.get(f"{detail(copy['id'])}item-rules/").json()["results"]
    assert [(r["kind"], r["value"], r["multiplier"]) for r in rules] == [
        ("blacklist", "A", "1"),
        ("whitelist", "B", "2"),
    ]
    second = crm_client.post(f"{detail(source.pk)}duplicate/").json()
    assert second["name"] == "Summer (copy 2)"


def test_duplicate_of_a_long_name_stays_within_200_characters(crm_client, make_campaign):
    source = make_campaign(name="N" * 200)
    response = crm_client.post(f"{detail(source.pk)}duplicate/")
    assert response.status_code == 201
    assert len(response.json()["name"]) <= 200
    assert response.json()["name"].endswith("(copy)")


def test_openapi_documents_the_campaign_endpoints(crm_client):
    schema = crm_client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{campaign_id}/",
        "/api/v1/campaigns/{campaign_id}/activate/",
        "/api/v1/campaigns/{campaign_id}/item-rules/import/",
        "/api/v1/partners/{slug}/",
    ):
        assert path in paths, path
    activate = paths["/api/v1/campaigns/{campaign_id}/activate/"]["post"]
    assert {"200", "404", "409"} <= set(activate["responses"])
    components = schema["components"]["schemas"]
    assert "ErrorResponse" in components
    assert {"name", "reward", "notification", "version"} <= set(components["Campaign"]["properties"])


def test_expired_campaigns_are_completed_by_the_system(make_campaign):
    from campaigns.services import campaigns_complete_expired
    from campaigns.tasks import campaigns_complete_expired_task

    expired = make_campaign(status="active")
    Campaign.objects.filter(pk=expired.pk).update(
        starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(seconds=1)
    )
    paused = make_campaign(status="paused", ends_at=timezone.now() + timedelta(days=1))
    running = make_campaign(status="active")
    draft = make_campaign()
    Campaign.objects.filter(pk=draft.pk).update(
        starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(seconds=1)
    )

    assert campaigns_complete_expired(now=timezone.now() + timedelta(days=2)) == 2
    expired.refresh_from_db()
    paused.refresh_from_db()
    running.refresh_from_db()
    assert expired.status == paused.status == "completed"
    assert expired.completed_at is not None
    assert running.status == "active"
    assert Campaign.objects.get(pk=draft.pk).status == "draft"
    assert CampaignTransition.objects.get(campaign=expired, to_status="completed").actor == "system"
    assert campaigns_complete_expired_task.run() == 0  # nothing left now


@pytest.mark.parametrize(
    "notification",
    [
        {"title": "Hi {{ award.value|no_such_filter }}", "body": "ok"},  # unknown filter
        {"title": "ok", "body": "{% if award.value %}no endif"},  # unclosed block
        {"title": "ok", "body": "{% include 'secrets.txt' %}"},  # a tag outside the sandbox
        {"title": "ok", "body": "{% load static %}{% static 'x' %}"},
    ],
)
def test_a_notification_template_error_is_a_400_on_create_and_update(
    crm_client, campaign_payload, notification
):
    response = crm_client.post(
        "/api/v1/campaigns/", {**campaign_payload, "notification": notification}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert "notification" in response.json()["error"]["fields"]

    created = crm_client.post("/api/v1/campaigns/", campaign_payload, format="json").json()
    response = crm_client.patch(detail(created["id"]), {"notification": notification}, format="json")
    assert response.status_code == 400
    assert "notification" in response.json()["error"]["fields"]
    assert crm_client.get(detail(created["id"])).json()["notification"] == campaign_payload["notification"]


def test_the_api_rejects_an_unknown_variable_with_400(crm_client, campaign_payload):
    campaign_payload["notification"] = {"title": "Hi", "body": "{{ award.valu }}"}
    response = crm_client.post("/api/v1/campaigns/", campaign_payload, format="json")
    assert response.status_code == 400
    assert "notification" in response.json()["error"]["fields"]
