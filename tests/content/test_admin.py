"""The content admin: drafts readable (the report as a table), approve/reject actions, the generator's
form reached from a campaign message's action, using an approved draft, the content settings."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigns.models import Campaign
from content.models import ContentSettings, Draft, Generation
from content.services import drafts_generate
from core.models import AuditEvent
from notifications.models import CampaignMessage
from tests.campaigns.factories import CampaignFactory
from tests.content.conftest import FACTS

pytestmark = pytest.mark.django_db
HOST = "brand-a.localhost"


def _client(django_user_model, group: str | None = None) -> Client:
    if group:
        user = django_user_model.objects.create_user(username=f"x-{group}", password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
    else:
        user = django_user_model.objects.create_user("lead", password="x", is_staff=True, is_superuser=True)
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


def _facts_rows(facts: dict[str, str]) -> dict[str, str]:
    data = {"facts-TOTAL_FORMS": "8", "facts-INITIAL_FORMS": "0", "facts-MIN_NUM_FORMS": "0",
            "facts-MAX_NUM_FORMS": "50"}  # fmt: skip
    for i, (name, value) in enumerate(facts.items()):
        data |= {f"facts-{i}-name": name, f"facts-{i}-value": value}
    return data


def test_generate_variants_from_a_campaign_message(brand_a, django_user_model):
    ContentSettings.objects.create(allowed_link_hosts="brand.example")
    message = CampaignMessage.objects.create(
        campaign=CampaignFactory(status=Campaign.Status.ACTIVE),
        name="Boots",
        first_channel="sms",
        sms_text="x",
    )
    client = _client(django_user_model)
    action = client.post("/admin/notifications/campaignmessage/",
                         {"action": "generate_variants", "_selected_action": [message.pk]})  # fmt: skip
    assert action.status_code == 302 and action["Location"].endswith(f"?campaign_message={message.pk}")
    page = client.get(action["Location"])
    assert page.status_code == 200 and 'name="facts-0-name"' in page.content.decode()
    form = {"channel": "sms", "brief": "Winter boots", "tone": "urgent", "variants": "3", "locale": "es",
            **_facts_rows(FACTS)}  # fmt: skip
    response = client.post(action["Location"], form)
    assert response.status_code == 302, response.content.decode()[:3000]
    generation = Generation.objects.get(campaign_message=message)
    assert (generation.channel, generation.locale, generation.variants, generation.facts) == (
        "sms",
        "es",
        3,
        FACTS,
    )
    assert generation.drafts.filter(passed=True).count() == 3
    listing = client.get(response["Location"])
    assert listing.status_code == 200 and "3 drafts" in listing.content.decode()


def test_a_fact_without_a_name_is_a_form_error(brand_a, django_user_model):
    client = _client(django_user_model)
    form = {"channel": "push", "brief": "Boots", "tone": "friendly", "variants": "1", "locale": "en",
            **_facts_rows({"": "20%"})}  # fmt: skip
    response = client.post("/admin/content/draft/generate/", form)
    assert response.status_code == 200 and "A fact needs a name" in response.content.decode()
    assert not Generation.objects.exists()


def test_the_draft_page_shows_the_report_as_a_table_and_the_actions_decide(brand_a, django_user_model):
    generation = drafts_generate(
        channel="push", brief="Boots", facts={"product": "boots"}, actor="system", variants=2
    )
    failing = Draft.objects.create(generation=generation, position=9, channel="push", title="Boots",
                                   body="50% off!", provider="offline", prompt_hash="x", passed=False,
                                   filter_report={"passed": False, "failed": ["invented_fact"], "checks": [
                                       {"reason": "invented_fact", "passed": False, "detail": "percent '50%'"}]})  # fmt: skip
    client = _client(django_user_model, "CRM editor")
    page = client.get(f"/admin/content/draft/{failing.pk}/change/").content.decode()
    assert '<table class="filter-report">' in page and "percent &#x27;50%&#x27;" in page and "FAILED" in page
    passing = generation.drafts.filter(passed=True).first()
    client.post("/admin/content/draft/", {"action": "approve", "_selected_action": [failing.pk, passing.pk]})
    failing.refresh_from_db()
    passing.refresh_from_db()
    assert (failing.status, passing.status) == ("draft", "approved")
    assert AuditEvent.objects.filter(action="draft.approved", actor="user:x-CRM editor").count() == 1
    assert "Use this draft" in client.get(f"/admin/content/draft/{passing.pk}/change/").content.decode()


def test_use_an_approved_draft_in_a_campaign_message(brand_a, django_user_model):
    generation = drafts_generate(channel="push", brief="Boots", facts={"product": "boots"}, actor="system")
    draft = generation.drafts.get()
    message = CampaignMessage.objects.create(campaign=CampaignFactory(), name="Boots", first_channel="push",
                                             push_body="old")  # fmt: skip
    client = _client(django_user_model)
    url = f"/admin/content/draft/{draft.pk}/use/"
    refused = client.post(url, {"campaign_message": message.pk})
    assert refused.status_code == 200 and "only an approved draft can be used" in refused.content.decode()
    client.post("/admin/content/draft/", {"action": "approve", "_selected_action": [draft.pk]})
    assert client.post(url, {"campaign_message": message.pk}).status_code == 302
    message.refresh_from_db()
    assert message.push_body == draft.body


def test_viewers_see_drafts_and_cannot_generate(brand_a, django_user_model):
    client = _client(django_user_model, "CRM viewer")
    assert client.get("/admin/content/draft/").status_code == 200
    assert client.get("/admin/content/draft/generate/").status_code == 403


def test_content_settings_are_saved_through_the_service(brand_a, django_user_model):
    client = _client(django_user_model, "CRM editor")
    response = client.post("/admin/content/contentsettings/add/", {
        "locale": "pt", "allowed_link_hosts": "Shop.Brand.example\n\n", "blocked_terms": "barato", "sms_max_segments": "2"})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    config = ContentSettings.objects.get()
    assert (config.locale, config.allowed_link_hosts, config.sms_max_segments) == (
        "pt",
        "shop.brand.example",
        2,
    )
    assert AuditEvent.objects.filter(action="content_settings.updated").count() == 1
