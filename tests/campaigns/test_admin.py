"""The CRM admin: same services and rules as the API; editor vs viewer groups; partner secret shown once."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

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
        "reward_type": "voucher",
        "reward_value": "5",
        "reward_description": "5 off",
        "notification_title": "Hi",
        "notification_body": "{{ award.value }}",
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
        "budget-TOTAL_FORMS": "0",
        "budget-INITIAL_FORMS": "0",
        "budget-MIN_NUM_FORMS": "0",
        "budget-MAX_NUM_FORMS": "1",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
        "transitions-MIN_NUM_FORMS": "0",
        "transitions-MAX_NUM_FORMS": "0",
        # The promotions app's read-only inline of code batches (promotions/admin.py).
        "code_batches-TOTAL_FORMS": "0",
        "code_batches-INITIAL_FORMS": "0",
        "code_batches-MIN_NUM_FORMS": "0",
        "code_batches-MAX_NUM_FORMS": "0",
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
        # The pipeline's records (notifications 0006, ADR 0015).
        "view_purchase",
        "view_evaluation",
        "view_dispatch",
        "view_dispatchattempt",
        # refunds and retractions (ADR 0025)
        "view_purchaserefund",
        "view_retraction",
        "view_retractionattempt",
        "view_award",
        "view_notification",
        # customers (ADR 0018): profiles, stats, events and segments
        "view_customer",
        "view_customerstats",
        "view_event",
        "view_segment",
        "view_segmentmember",
        "view_segmentsize",
        # outgoing webhooks (ADR 0022)
        "view_webhookendpoint",
        "view_webhookdelivery",
        "view_webhookattempt",
        # budgets (ADR 0023)
        "view_budget",
        "view_budgetledger",
        # experiments (ADR 0024)
        "view_experiment",
        "view_variant",
        # budget allocations (ADR 0027)
        "view_budgetallocation",
        "view_budgetallocationline",
        # generated content (ADR 0026)
        "view_draft",
        "view_generation",
        "view_contentsettings",
        # promotions (ADR 0020)
        "view_codebatch",
        "view_promocode",
        "view_redemption",
        "view_job",
        # journeys (ADR 0028)
        "view_journey",
        "view_journeystep",
        "view_enrollment",
        "view_steprun",
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
    assert campaign.version == 1  # the campaign and its first rules are one configuration
    assert campaign.reward == {"type": "voucher", "value": "5.00", "description": "5 off"}
    assert campaign.notification == {"title": "Hi", "body": "{{ award.value }}"}
    transition = CampaignTransition.objects.get(campaign=campaign)
    assert transition.actor == "user:user-CRM editor"


def test_admin_form_reports_the_api_rules_as_field_errors(editor):
    from tests.partners.factories import PartnerFactory

    partner = PartnerFactory()
    response = editor.post(
        f"{ADMIN}add/",
        form_data(partner, currency="XYZ", reward_type="", reward_value="5", min_purchase_value="-1"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"currency", "reward_type", "min_purchase_value"} <= set(errors)
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


def test_csv_import_on_the_change_page_previews_then_applies(editor):
    campaign = CampaignFactory()
    ItemRuleFactory(campaign=campaign, kind="whitelist", match="category", value="B", multiplier="3")
    good = SimpleUploadedFile("r.csv", "\ufeffBlacklist;SKU;A\nWhitelist;Category;B;2;1\n".encode())
    preview = editor.post(f"{ADMIN}{campaign.pk}/import-item-rules/", {"file": good, "step": "preview"})
    assert preview.status_code == 200
    plan = preview.context["plan"]
    assert (len(plan.added), len(plan.changed), len(plan.removed)) == (1, 1, 0)
    assert campaign.item_rules.count() == 1  # nothing applied yet
    html = preview.content.decode()
    assert "semicolon-separated" in html and "3 → 2" in html

    apply = {
        "step": "apply",
        "content": preview.context["content"],
        "digest": plan.digest,
        "remove_missing": "0",
    }
    response = editor.post(f"{ADMIN}{campaign.pk}/import-item-rules/", apply, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("1 added, 1 changed, 0 removed" in t for t in texts), texts
    assert sorted(campaign.item_rules.values_list("value", "multiplier")) == [("A", 1), ("B", 2)]
    campaign.refresh_from_db()
    assert campaign.version == 2

    # The same preview applied again is stale: the rules changed since.
    stale = editor.post(f"{ADMIN}{campaign.pk}/import-item-rules/", apply, follow=True)
    assert any("changed since the preview" in str(m) for m in stale.context["messages"])

    bad = SimpleUploadedFile("r.csv", b"blacklist,sku,C\nnope,sku,\n")
    response = editor.post(f"{ADMIN}{campaign.pk}/import-item-rules/", {"file": bad}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert 'Line 2: Kind must be Blacklist or Whitelist (got "nope"). Value is required.' in texts


def test_item_rules_export_and_template_download(editor):
    campaign = CampaignFactory()
    ItemRuleFactory(campaign=campaign, kind="whitelist", match="sku", value="X", multiplier="2")
    export = editor.get(f"{ADMIN}{campaign.pk}/item-rules.csv")
    assert export["Content-Type"].startswith("text/csv")
    assert export.content.decode() == "kind,match,value,multiplier,bonus_per_unit\r\nwhitelist,sku,X,2,0\r\n"
    template = editor.get(f"{ADMIN}item-rules-template.csv")
    assert template.content.decode().startswith("kind,match,value,multiplier,bonus_per_unit")


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
        partner, starts_at_0="", starts_at_1="", currency="", purchase_channels=[], reward_type="cash"
    )
    response = editor.post(f"{ADMIN}add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"starts_at", "currency", "purchase_channels", "reward_type"} <= set(errors)


def test_a_save_that_changes_nothing_keeps_the_version_and_writes_no_history(editor):
    from core.models import AuditEvent
    from tests.partners.factories import PartnerFactory

    partner = PartnerFactory()
    assert editor.post(f"{ADMIN}add/", form_data(partner)).status_code == 302
    campaign = Campaign.objects.get(name="Carnival 2027")
    assert campaign.version == 1
    events = AuditEvent.objects.filter(object_id=str(campaign.pk)).count()

    # Post the change page back exactly as the browser shows it.
    page = editor.get(f"{ADMIN}{campaign.pk}/change/")
    form = page.context["adminform"].form
    assert form.initial["min_purchase_value"] == Decimal("20.00")  # money, not 20.0000
    rules = list(campaign.item_rules.order_by("id"))
    same = form_data(
        partner,
        **{
            "starts_at_0": timezone.localtime(campaign.starts_at).strftime("%Y-%m-%d"),
            "starts_at_1": timezone.localtime(campaign.starts_at).strftime("%H:%M:%S"),
            "ends_at_0": timezone.localtime(campaign.ends_at).strftime("%Y-%m-%d"),
            "ends_at_1": timezone.localtime(campaign.ends_at).strftime("%H:%M:%S"),
            "reward_value": "5.00",
            "item_rules-INITIAL_FORMS": "2",
            "item_rules-0-id": str(rules[0].pk),
            "item_rules-0-campaign": str(campaign.pk),
            "item_rules-1-id": str(rules[1].pk),
            "item_rules-1-campaign": str(campaign.pk),
            "item_rules-1-multiplier": "2",
            "item_rules-1-bonus_per_unit": "0.5",
        },
    )
    response = editor.post(f"{ADMIN}{campaign.pk}/change/", same)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    campaign.refresh_from_db()
    assert campaign.version == 1
    assert AuditEvent.objects.filter(object_id=str(campaign.pk)).count() == events

    changed = {**same, "min_purchase_value": "30", "item_rules-1-multiplier": "3"}
    assert editor.post(f"{ADMIN}{campaign.pk}/change/", changed).status_code == 302
    campaign.refresh_from_db()
    assert campaign.version == 2  # one save, one version
    event = AuditEvent.objects.filter(object_id=str(campaign.pk), action="campaign.updated").get()
    assert set(event.changes) == {"min_purchase_value", f"item_rules[{rules[1].pk}].multiplier", "version"}


def test_warnings_after_save_for_an_ended_campaign_without_partner(editor):
    from tests.partners.factories import PartnerFactory

    past = timezone.now() - timedelta(days=300)
    data = form_data(
        PartnerFactory(),
        starts_at_0=(past - timedelta(days=10)).strftime("%Y-%m-%d"),
        ends_at_0=past.strftime("%Y-%m-%d"),
    )
    data["partner"] = ""
    response = editor.post(f"{ADMIN}add/", data, follow=True)
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 2
    assert "ended on" in warnings[0] and "no partner" in warnings[1]


def test_cancel_asks_first_and_says_what_happens(editor):
    campaign = CampaignFactory(status="active")
    page = editor.get(f"{ADMIN}{campaign.pk}/lifecycle/cancel/")
    assert page.status_code == 200
    assert "cannot be undone" in page.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "active"
    editor.post(f"{ADMIN}{campaign.pk}/lifecycle/cancel/", {"confirmed": "yes", "note": "budget cut"})
    assert Campaign.objects.get(pk=campaign.pk).status == "cancelled"
    assert CampaignTransition.objects.filter(campaign=campaign, note="budget cut").exists()


def test_bulk_cancel_asks_first(editor):
    campaigns = [CampaignFactory(status="active"), CampaignFactory(status="draft")]
    ids = [str(c.pk) for c in campaigns]
    page = editor.post(ADMIN, {"action": "cancel", "_selected_action": ids})
    assert page.status_code == 200 and "cannot be undone" in page.content.decode()
    assert set(Campaign.objects.values_list("status", flat=True)) == {"active", "draft"}
    editor.post(
        ADMIN, {"action": "cancel", "_selected_action": ids, "confirmed": "yes", "note": "season over"}
    )
    assert set(Campaign.objects.values_list("status", flat=True)) == {"cancelled"}


def test_push_preview_renders_for_a_sample_award(editor):
    response = editor.post(
        f"{ADMIN}preview-push/",
        {"title": "{{ campaign.name }}", "body": "{{ award.value }} {{ award.currency }}", "campaign_name": "Xmas",
         "currency": "JPY"},
    )  # fmt: skip
    assert response.json() == {"title": "Xmas", "body": "10 JPY", "errors": []}
    bad = editor.post(f"{ADMIN}preview-push/", {"title": "x", "body": "{{ award.valu }}"})
    assert bad.status_code == 400 and "award.valu" in bad.json()["errors"][0]


def test_editor_sets_a_budget_with_the_inline_form_through_the_service(editor):
    from campaigns.models import Budget
    from core.models import AuditEvent
    from tests.partners.factories import PartnerFactory

    partner = PartnerFactory()
    data = form_data(
        partner,
        **{
            "budget-TOTAL_FORMS": "1",
            "budget-0-kind": "spend",
            "budget-0-limit": "250.00",
            "budget-0-period": "week",
            "budget-0-pause_at_percent": "80",
        },
    )
    response = editor.post(f"{ADMIN}add/", data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    campaign = Campaign.objects.get(name="Carnival 2027")
    budget = Budget.objects.get(campaign=campaign)
    assert (budget.kind, budget.limit, budget.period, budget.pause_at_percent) == ("spend", 250, "week", 80)
    assert AuditEvent.objects.filter(action="budget.updated", object_id=str(campaign.pk)).exists()
    page = editor.get(f"{ADMIN}{campaign.pk}/change/")
    assert 'name="budget-0-limit"' in page.content.decode()


def test_admin_import_page_previews_then_imports(editor):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from campaigns.transfer import campaigns_export
    from tests.campaigns.factories import CampaignFactory

    source = CampaignFactory(name="Exported")
    exported = editor.post(ADMIN, {"action": "export_json", "_selected_action": [source.pk]})
    assert exported["Content-Type"] == "application/json"
    document = exported.content
    assert json.loads(document) == campaigns_export(ids=[source.pk])
    page = editor.get(f"{ADMIN}import/")
    assert page.status_code == 200 and 'type="file"' in page.content.decode()
    preview = editor.post(
        f"{ADMIN}import/", {"file": SimpleUploadedFile("c.json", document), "on_conflict": "rename"}
    )
    assert "Exported (2)" in preview.content.decode()
    assert not Campaign.objects.filter(name="Exported (2)").exists()
    done = editor.post(
        f"{ADMIN}import/", {"step": "apply", "on_conflict": "rename", "document": document.decode()}
    )
    assert done.status_code == 302
    assert Campaign.objects.get(name="Exported (2)").status == "draft"
    clash = editor.post(
        f"{ADMIN}import/", {"file": SimpleUploadedFile("c.json", document), "on_conflict": "error"}
    )
    assert "names are taken" in clash.content.decode()
