"""The CRM admin: same services and rules as the API; editor vs viewer groups; partner secret shown once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignTransition, ItemRule
from partners.models import Partner
from tests.campaigns.factories import CampaignFactory, ItemRuleFactory

HOST = "brand-a.localhost"
ADMIN = "/admin/campaigns/campaign/"


def login(django_user_model, group: str | None, *, superuser: bool = False) -> Client:
    user = django_user_model.objects.create_user(
        f"user-{group or 'super'}", password="pw", is_staff=True, is_superuser=superuser
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


@pytest.fixture
def editor(brand_a, django_user_model) -> Client:
    return login(django_user_model, "CRM editor")


@pytest.fixture
def viewer(brand_a, django_user_model) -> Client:
    return login(django_user_model, "CRM viewer")


def form_data(partner, **overrides):
    now = timezone.now()
    data = {
        "name": "Carnival 2027",
        "kind": "carnival",
        "partner": partner.pk,
        "starts_at_0": (now - timedelta(days=1)).strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=20)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "purchase_channels": ["in_store"],
        "currency": "EUR",
        "min_purchase_value": "20.00",
        "reward": '{"type": "voucher", "value": "5.00", "description": "5 off"}',
        "notification": '{"title": "Hi", "body": "{{ award.value }}"}',
        "item_rules-TOTAL_FORMS": "2",
        "item_rules-INITIAL_FORMS": "0",
        "item_rules-MIN_NUM_FORMS": "0",
        "item_rules-MAX_NUM_FORMS": "1000",
        "item_rules-0-kind": "blacklist",
        "item_rules-0-match": "category",
        "item_rules-0-value": "tobacco",
        "item_rules-0-multiplier": "1",
        "item_rules-0-bonus_per_unit": "0",
        "item_rules-1-kind": "whitelist",
        "item_rules-1-match": "sku",
        "item_rules-1-value": "SKU-9",
        "item_rules-1-multiplier": "2",
        "item_rules-1-bonus_per_unit": "0.5",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
        "transitions-MIN_NUM_FORMS": "0",
        "transitions-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_groups_exist_in_the_brand_schema(brand_a):
    editor_perms = set(Group.objects.get(name="CRM editor").permissions.values_list("codename", flat=True))
    viewer_perms = set(Group.objects.get(name="CRM viewer").permissions.values_list("codename", flat=True))
    assert {"add_campaign", "change_campaign", "delete_campaign", "change_partner"} <= editor_perms
    assert viewer_perms == {
        "view_campaign",
        "view_itemrule",
        "view_campaigntransition",
        "view_partner",
        "view_auditevent",
        # customers (ADR 0013): profiles, stats, events and segments
        "view_customer",
        "view_customerstats",
        "view_event",
        "view_segment",
        "view_segmentmember",
        "view_segmentsize",
    }


def test_editor_creates_a_campaign_with_item_rules_through_the_services(editor):
    from tests.partners.factories import PartnerFactory

    partner = PartnerFactory()
    response = editor.post(f"{ADMIN}add/", form_data(partner))
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    campaign = Campaign.objects.get(name="Carnival 2027")
    assert campaign.status == "draft"
    assert set(campaign.item_rules.values_list("value", flat=True)) == {"tobacco", "SKU-9"}
    assert campaign.version == 3  # created at 1, +1 per rule added
    transition = CampaignTransition.objects.get(campaign=campaign)
    assert transition.actor == "user:user-CRM editor"


def test_admin_form_reports_the_api_rules_as_field_errors(editor):
    from tests.partners.factories import PartnerFactory

    partner = PartnerFactory()
    response = editor.post(
        f"{ADMIN}add/", form_data(partner, currency="XYZ", reward='{"type": "cash"}', min_purchase_value="-1")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"currency", "reward", "min_purchase_value"} <= set(errors)
    assert not Campaign.objects.exists()


def test_list_shows_status_badges_and_filters(editor):
    CampaignFactory(status="active", name="Live one")
    CampaignFactory(status="paused", name="Sleeping one")
    page = editor.get(ADMIN).content.decode()
    assert "campaign-status-active" in page and "campaign-status-paused" in page
    filtered = editor.get(ADMIN, {"status__exact": "paused"}).content.decode()
    assert "Sleeping one" in filtered and "Live one" not in filtered


def test_list_actions_call_the_services_and_show_409_reasons(editor):
    draft = CampaignFactory(name="Ready")
    no_partner = CampaignFactory(name="Partnerless", partner=None)
    response = editor.post(
        ADMIN, {"action": "activate", "_selected_action": [draft.pk, no_partner.pk]}, follow=True
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("1 campaign(s) done" in t for t in texts)
    assert any("Partnerless" in t and "no partner" in t for t in texts)
    assert Campaign.objects.get(pk=draft.pk).status == "active"
    assert Campaign.objects.get(pk=no_partner.pk).status == "draft"

    response = editor.post(ADMIN, {"action": "resume", "_selected_action": [draft.pk]}, follow=True)
    assert any("it is active" in str(m) for m in response.context["messages"])

    editor.post(ADMIN, {"action": "duplicate", "_selected_action": [draft.pk]})
    assert Campaign.objects.filter(name="Ready (copy)", status="draft").exists()


def test_change_page_buttons_and_history(editor):
    campaign = CampaignFactory()
    page = editor.get(f"{ADMIN}{campaign.pk}/change/").content.decode()
    assert "campaign-lifecycle-activate" in page and "campaign-lifecycle-pause" not in page
    assert "item-rule-import" in page
    response = editor.post(f"{ADMIN}{campaign.pk}/lifecycle/activate/", follow=True)
    assert Campaign.objects.get(pk=campaign.pk).status == "active"
    assert any("now active" in str(m) for m in response.context["messages"])
    page = response.content.decode()
    assert "Lifecycle history" in page and "user:user-CRM editor" in page

    response = editor.post(f"{ADMIN}{campaign.pk}/lifecycle/activate/", follow=True)
    assert any("it is active" in str(m) for m in response.context["messages"])


def test_csv_import_on_the_change_page(editor):
    campaign = CampaignFactory()
    good = SimpleUploadedFile("r.csv", b"blacklist,sku,A\nwhitelist,category,B,2,1\n")
    response = editor.post(f"{ADMIN}{campaign.pk}/import-item-rules/", {"file": good}, follow=True)
    assert any("Imported 2" in str(m) for m in response.context["messages"])
    assert campaign.item_rules.count() == 2

    bad = SimpleUploadedFile("r.csv", b"blacklist,sku,C\nnope,sku,D\n")
    response = editor.post(f"{ADMIN}{campaign.pk}/import-item-rules/", {"file": bad}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any(t.startswith("Line 2:") and "kind" in t for t in texts)
    assert campaign.item_rules.count() == 2


def test_closed_campaign_is_read_only_in_the_admin(editor):
    campaign = CampaignFactory(status="completed")
    ItemRuleFactory(campaign=campaign)
    page = editor.get(f"{ADMIN}{campaign.pk}/change/").content.decode()
    assert 'name="name"' not in page
    assert "item-rule-import" not in page
    assert editor.post(f"{ADMIN}{campaign.pk}/delete/").status_code == 403


def test_viewer_sees_but_cannot_change(viewer):
    campaign = CampaignFactory(name="Look only")
    ItemRuleFactory(campaign=campaign)
    assert viewer.get(ADMIN).status_code == 200
    page = viewer.get(f"{ADMIN}{campaign.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Look only" in html
    assert "campaign-lifecycle-activate" not in html and "item-rule-import" not in html
    assert 'name="name"' not in html

    assert viewer.get(f"{ADMIN}add/").status_code == 403
    assert viewer.post(f"{ADMIN}{campaign.pk}/change/", {"name": "Changed"}).status_code == 403
    assert viewer.post(f"{ADMIN}{campaign.pk}/lifecycle/activate/").status_code == 403
    upload = SimpleUploadedFile("r.csv", b"blacklist,sku,Z\n")
    assert viewer.post(f"{ADMIN}{campaign.pk}/import-item-rules/", {"file": upload}).status_code == 403
    assert viewer.post(f"{ADMIN}{campaign.pk}/delete/", {"post": "yes"}).status_code == 403
    # Actions need the change permission: a viewer's POST does nothing.
    viewer.post(ADMIN, {"action": "activate", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status, campaign.version) == ("Look only", "draft", 1)
    assert ItemRule.objects.filter(campaign=campaign).count() == 1
    assert viewer.get("/admin/partners/partner/").status_code == 200
    assert viewer.get("/admin/partners/partner/add/").status_code == 403


def test_partner_admin_shows_a_generated_secret_once(editor):
    response = editor.post(
        "/admin/partners/partner/add/",
        {
            "slug": "acme",
            "name": "Acme",
            "submission_url": "http://127.0.0.1:9/s",
            "auth_url": "http://127.0.0.1:9/a",
            "secret": "",
            "timeout_seconds": "10",
            "max_attempts": "8",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    partner = Partner.objects.get(slug="acme")
    html = response.content.decode()
    assert partner.secret.startswith("whsec_") and partner.secret in html
    assert "no-store" in response["Cache-Control"]
    change_page = editor.get(f"/admin/partners/partner/{partner.pk}/change/").content.decode()
    assert partner.secret not in change_page

    # Saving the change form with the secret left blank keeps it.
    editor.post(
        f"/admin/partners/partner/{partner.pk}/change/",
        {
            "name": "Acme Renamed",
            "submission_url": "http://127.0.0.1:9/s",
            "auth_url": "http://127.0.0.1:9/a",
            "secret": "",
            "timeout_seconds": "10",
            "max_attempts": "8",
            "is_active": "on",
        },
    )
    kept = Partner.objects.get(pk=partner.pk)
    assert kept.name == "Acme Renamed" and kept.secret == partner.secret


def test_admin_form_with_missing_fields_shows_errors_not_a_500(editor):
    from tests.partners.factories import PartnerFactory

    partner = PartnerFactory()
    data = form_data(
        partner, starts_at_0="", starts_at_1="", currency="", purchase_channels=[], reward="[1, 2]"
    )
    response = editor.post(f"{ADMIN}add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"starts_at", "currency", "purchase_channels", "reward"} <= set(errors)
