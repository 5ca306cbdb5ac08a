"""The content endpoints (SPEC §17): generate, list/read, approve, reject, use — on the brand's schema."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from content.models import ContentSettings, Draft, Generation
from content.services import draft_approve, drafts_generate
from core.models import AuditEvent
from experiments.models import VariantTotals
from experiments.services import VariantSpec, experiment_create
from notifications.models import CampaignMessage
from tests.campaigns.factories import CampaignFactory
from tests.content.conftest import FACTS

pytestmark = pytest.mark.django_db

BODY = {"channel": "push", "brief": "Winter boots for loyal customers", "facts": FACTS, "tone": "urgent",
        "variants": 3}  # fmt: skip


@pytest.fixture
def allowed_hosts(brand_a):
    ContentSettings.objects.create(allowed_link_hosts="brand.example", blocked_terms="cheap")


def generate(client, **overrides):
    return client.post("/api/v1/content/generate/", {**BODY, **overrides}, format="json")


def test_generate_answers_201_with_drafts_and_their_reports(crm_client, allowed_hosts):
    response = generate(crm_client)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["provider"], data["fallback_reason"], data["locale"]) == ("offline", None, "en")
    assert len(data["drafts"]) == 3 and len(data["prompt_hash"]) == 64
    for draft in data["drafts"]:
        assert draft["status"] == "draft" and draft["passed"] is True
        assert draft["provider"] == "offline" and draft["prompt_hash"] == data["prompt_hash"]
        assert [c["reason"] for c in draft["filter_report"]["checks"]][:3] == [
            "channel_length", "unknown_template_variable", "invented_fact"
        ]  # fmt: skip
    generation = Generation.objects.get(pk=data["generation_id"])
    (event,) = AuditEvent.objects.filter(action="content.generated", object_id=str(generation.pk))
    assert event.actor.startswith("api-key:") and len(event.changes["drafts"]["after"]) == 3


def test_the_brand_locale_is_the_default_and_a_request_may_choose(crm_client, brand_a):
    ContentSettings.objects.create(locale="pt")
    assert generate(crm_client).json()["locale"] == "pt"
    assert generate(crm_client, locale="es").json()["locale"] == "es"


def test_a_remote_answer_with_an_invented_price_is_stored_failed(crm_client, allowed_hosts, fake_llm):
    fake_llm.answers_well([{"title": "Winter boots", "body": "Now only €19.99!"},
                           {"title": "Winter boots", "body": "20% off until 24 December."}])  # fmt: skip
    data = generate(crm_client, variants=2).json()
    assert data["provider"] == "openai" and data["fallback_reason"] is None
    invented, honest = data["drafts"]
    assert invented["passed"] is False and invented["filter_report"]["failed"] == ["invented_fact"]
    assert honest["passed"] is True
    approve = crm_client.post(f"/api/v1/content/{invented['id']}/approve/", {}, format="json")
    assert approve.status_code == 409 and approve.json()["error"]["code"] == "draft_failed_filter"
    assert crm_client.post(f"/api/v1/content/{honest['id']}/approve/", {}, format="json").status_code == 200


def test_a_remote_failure_is_recorded_on_the_generation(crm_client, allowed_hosts, fake_llm):
    fake_llm.answers_status(503)
    data = generate(crm_client).json()
    assert (data["provider"], data["fallback_reason"]) == ("openai", "server_error")
    assert {d["provider"] for d in data["drafts"]} == {"offline"}
    assert Generation.objects.get(pk=data["generation_id"]).fallback_detail.startswith("HTTP 503")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"brief": ""}, "brief"),
        ({"brief": "x" * 2001}, "brief"),
        ({"tone": "angry"}, "tone"),
        ({"variants": 0}, "variants"),
        ({"variants": 11}, "variants"),
        ({"facts": {"a": {"nested": 1}}}, "facts"),
        ({"facts": {"a": "x" * 501}}, "facts"),
        ({"facts": "20%"}, "facts"),
        ({"locale": "fr"}, "locale"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(crm_client, brand_a, overrides, field):
    response = generate(crm_client, **overrides)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not Generation.objects.exists()


def test_only_crm_keys(ingest_client, tenant_client):
    assert generate(ingest_client).status_code == 403
    assert generate(tenant_client).status_code == 401


def test_list_and_detail(crm_client, allowed_hosts):
    data = generate(crm_client).json()
    generate(crm_client, channel="sms")
    listed = crm_client.get("/api/v1/content/?channel=push").json()
    assert listed["count"] == 3 and {d["channel"] for d in listed["results"]} == {"push"}
    assert crm_client.get("/api/v1/content/?passed=false").json()["count"] == 0
    assert crm_client.get(f"/api/v1/content/?generation={data['generation_id']}").json()["count"] == 3
    assert crm_client.get("/api/v1/content/?status=nope").status_code == 400
    detail = crm_client.get(f"/api/v1/content/{data['drafts'][0]['id']}/")
    assert detail.status_code == 200 and detail.json() == data["drafts"][0]
    assert crm_client.get("/api/v1/content/999999/").status_code == 404


def test_approve_and_reject_are_audited_and_decided_once(crm_client, allowed_hosts):
    first, second, _ = generate(crm_client).json()["drafts"]
    approved = crm_client.post(f"/api/v1/content/{first['id']}/approve/", {"note": "good"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decided_by"].startswith("api-key:")
    again = crm_client.post(f"/api/v1/content/{first['id']}/reject/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "draft_decided"
    assert (
        crm_client.post(f"/api/v1/content/{second['id']}/reject/", {}, format="json").json()["status"]
        == "rejected"
    )
    assert AuditEvent.objects.filter(action="draft.approved", object_id=str(first["id"])).count() == 1
    assert AuditEvent.objects.filter(action="draft.rejected", object_id=str(second["id"])).count() == 1
    assert crm_client.post("/api/v1/content/999999/approve/", {}, format="json").status_code == 404


def _campaign_message(**fields) -> CampaignMessage:
    campaign = CampaignFactory(status=Campaign.Status.ACTIVE)
    return CampaignMessage.objects.create(campaign=campaign, name="Boots", first_channel="push",
                                          push_body="Old body", **fields)  # fmt: skip


def test_an_approved_draft_becomes_a_campaign_message_template(crm_client, allowed_hosts):
    message = _campaign_message()
    draft = generate(crm_client, variants=1).json()["drafts"][0]
    use = crm_client.post(
        f"/api/v1/content/{draft['id']}/use/", {"campaign_message_id": message.pk}, format="json"
    )
    assert use.status_code == 409 and use.json()["error"]["code"] == "draft_not_approved"
    crm_client.post(f"/api/v1/content/{draft['id']}/approve/", {}, format="json")
    use = crm_client.post(
        f"/api/v1/content/{draft['id']}/use/", {"campaign_message_id": message.pk}, format="json"
    )
    assert use.status_code == 200, use.json()
    message.refresh_from_db()
    assert (message.push_title, message.push_body) == (draft["title"], draft["body"])
    (event,) = AuditEvent.objects.filter(
        action="campaign_message.content_from_draft", object_id=str(message.pk)
    )
    assert event.changes["push_body"] == {"before": "Old body", "after": draft["body"]}


def test_a_started_campaign_message_keeps_its_content(crm_client, allowed_hosts):
    message = _campaign_message(state="sending")
    draft = generate(crm_client, variants=1).json()["drafts"][0]
    crm_client.post(f"/api/v1/content/{draft['id']}/approve/", {}, format="json")
    use = crm_client.post(
        f"/api/v1/content/{draft['id']}/use/", {"campaign_message_id": message.pk}, format="json"
    )
    assert use.status_code == 409 and use.json()["error"]["code"] == "campaign_message_started"


def test_an_approved_push_draft_becomes_a_variant_message_until_customers_see_it(crm_client, allowed_hosts):
    experiment = experiment_create(campaign=CampaignFactory(), actor="system",
                                   variants=[VariantSpec("A"), VariantSpec("B")])  # fmt: skip
    draft = generate(crm_client, variants=1).json()["drafts"][0]
    crm_client.post(f"/api/v1/content/{draft['id']}/approve/", {}, format="json")
    body = {"experiment_id": experiment.pk, "variant": "B"}
    use = crm_client.post(f"/api/v1/content/{draft['id']}/use/", body, format="json")
    assert use.status_code == 200, use.json()
    variant = experiment.variants.get(key="B")
    assert (variant.message_title, variant.message_body) == (draft["title"], draft["body"])
    assert (
        crm_client.post(
            f"/api/v1/content/{draft['id']}/use/", {**body, "variant": "Z"}, format="json"
        ).status_code
        == 400
    )
    VariantTotals.objects.create(
        experiment=experiment, bucket_version=experiment.bucket_version, variant="B", exposures=3
    )
    exposed = crm_client.post(f"/api/v1/content/{draft['id']}/use/", body, format="json")
    assert exposed.status_code == 409 and exposed.json()["error"]["code"] == "variant_exposed"


def test_an_sms_draft_cannot_be_a_variant_message(brand_a):
    ContentSettings.objects.create(allowed_link_hosts="brand.example")
    experiment = experiment_create(campaign=CampaignFactory(), actor="system",
                                   variants=[VariantSpec("A"), VariantSpec("B")])  # fmt: skip
    generation = drafts_generate(channel="sms", brief="Boots", facts=FACTS, actor="system")
    draft = generation.drafts.get()
    draft_approve(draft_id=draft.pk, actor="system")
    from content.services import draft_use_in_variant
    from core.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        draft_use_in_variant(draft_id=draft.pk, experiment_id=experiment.pk, variant_key="B", actor="system")


def test_use_needs_one_target(crm_client, allowed_hosts):
    draft = generate(crm_client, variants=1).json()["drafts"][0]
    assert crm_client.post(f"/api/v1/content/{draft['id']}/use/", {}, format="json").status_code == 400
    assert (
        crm_client.post(
            f"/api/v1/content/{draft['id']}/use/", {"experiment_id": 1}, format="json"
        ).status_code
        == 400
    )


def test_a_failed_draft_cannot_be_approved_even_by_an_update(brand_a):
    from django.db import IntegrityError, transaction

    generation = drafts_generate(channel="push", brief="Boots", facts={}, actor="system")
    draft = generation.drafts.first()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Draft.objects.filter(pk=draft.pk).update(passed=False, status="approved", decided_at=draft.created_at)
