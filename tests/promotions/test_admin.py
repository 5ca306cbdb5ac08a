"""The brand admin of promotions: a batch from a form (benefit as fields), its generation progress and the
"generate" action, codes searched by code with their redemption history, redemptions rolled back."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from core import task_names
from core.models import AuditEvent
from outbox.models import OutboxMessage
from promotions import services
from promotions.models import CodeBatch, Job, PromoCode, Redemption
from tests.campaigns.factories import CampaignFactory
from tests.promotions.conftest import redemption_body
from tests.promotions.factories import PromoCodeFactory

HOST = "brand-a.localhost"
ADD_URL = "/admin/promotions/codebatch/add/"


def _client(username: str, group: str) -> Client:
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", "pw-long-enough-123", is_staff=True
    )
    user.groups.add(Group.objects.get(name=group))
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    return client


@pytest.fixture
def editor(brand_a) -> Client:
    return _client("crm-editor", "CRM editor")


@pytest.fixture
def viewer(brand_a) -> Client:
    return _client("crm-viewer", "CRM viewer")


def _batch_form(campaign_id: int, **overrides) -> dict:
    form = {
        "campaign": campaign_id,
        "count": "25",
        "pattern": "########",
        "charset": "ABCDEFGHJKMNPQRSTUVWXYZ23456789",
        "prefix": "XMAS-",
        "postfix": "",
        "max_redemptions": "1",
        "per_customer_limit": "",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "min_order_value": "",
        "benefit_type": "fixed",
        "benefit_value": "5",
        "benefit_max_discount": "",
        "benefit_sku": "",
    }
    form.update(overrides)
    return form


def _redeemed(code: PromoCode, customer_id: str = "c-1", mode: str = "commit") -> Redemption:
    from promotions.validation import parse_redemption_request

    request = parse_redemption_request(redemption_body(code.code, customer_id=customer_id, mode=mode))
    return services.redemption_create(
        actor="system", idempotency_key=f"adm-{customer_id}-{code.pk}", request=request
    )[0]


def test_a_batch_from_the_form_is_generated_with_its_progress(editor):
    campaign = CampaignFactory(kind="promotion", status="active")
    page = editor.get(ADD_URL).content.decode()
    assert 'name="benefit_type"' in page and 'name="benefit"' not in page  # fields, no raw JSON
    response = editor.post(ADD_URL, _batch_form(campaign.pk))
    assert response.status_code == 302, response.content.decode()[:3000]
    batch = CodeBatch.objects.get()
    assert batch.benefit == {"type": "fixed", "value": "5"} and batch.prefix == "XMAS-"
    assert OutboxMessage.objects.filter(task_name=task_names.GENERATE_CODES, args=[batch.job_id]).exists()
    assert AuditEvent.objects.filter(action="code_batch.created", object_id=str(batch.pk)).exists()
    listing = editor.get("/admin/promotions/codebatch/").content.decode()
    assert '<progress class="generation-progress" value="0" max="100">' in listing
    services.code_batch_generate(job_id=batch.job_id)
    page = editor.get(f"/admin/promotions/codebatch/{batch.pk}/change/").content.decode()
    assert 'value="100" max="100"' in page and "25 / 25 · done" in page and "5 off" in page
    # The campaign page shows its promotions.
    campaign_page = editor.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert campaign_page.status_code == 200
    text = campaign_page.content.decode()
    assert "Promotions: code batches" in text and "XMAS-########" in text


def test_the_form_shows_the_apis_errors_and_keeps_nothing(editor):
    campaign = CampaignFactory(kind="promotion", status="active")
    too_small = editor.post(ADD_URL, _batch_form(campaign.pk, pattern="##", count="50"))
    assert too_small.status_code == 200
    assert "fewer than 100" in too_small.content.decode()
    bad_benefit = editor.post(ADD_URL, _batch_form(campaign.pk, benefit_type="free_item", benefit_sku=""))
    assert bad_benefit.status_code == 200 and "errorlist" in bad_benefit.content.decode()
    assert not CodeBatch.objects.exists() and not Job.objects.exists()


def test_the_generate_action_resumes_a_failed_job_and_refuses_a_done_one(editor):
    campaign = CampaignFactory(kind="promotion", status="active")
    batch = services.code_batch_create(
        actor="system",
        campaign_id=campaign.pk,
        data=services.BatchInput(count=4, benefit={"type": "percent", "value": "10"}),
    )
    Job.objects.filter(pk=batch.job_id).update(status="failed", error="worker lost", done=1)
    OutboxMessage.objects.all().delete()
    response = editor.post(
        "/admin/promotions/codebatch/", {"action": "generate", "_selected_action": [batch.pk]}, follow=True
    )
    assert response.status_code == 200 and "Generation sent for 1 batch" in response.content.decode()
    job = Job.objects.get(pk=batch.job_id)
    assert (job.status, job.error) == ("queued", "")
    assert OutboxMessage.objects.filter(task_name=task_names.GENERATE_CODES, args=[job.pk]).count() == 1
    services.code_batch_generate(job_id=job.pk)
    again = editor.post(
        "/admin/promotions/codebatch/", {"action": "generate", "_selected_action": [batch.pk]}, follow=True
    )
    assert "all generated" in again.content.decode()
    assert PromoCode.objects.filter(batch=batch).count() == 3  # resumed from done=1: never more than count


def test_codes_are_found_by_code_in_any_case_with_their_history(editor):
    code = PromoCodeFactory(code="Summer-Sale", max_redemptions=5)
    PromoCodeFactory(code="SUMMER-SALE-2")
    redemption = _redeemed(code, customer_id="cust-history")
    found = editor.get("/admin/promotions/promocode/", {"q": "summer-sale"}).content.decode()
    assert "Summer-Sale" in found and "SUMMER-SALE-2" not in found
    both = editor.get("/admin/promotions/promocode/", {"q": "summer"}).content.decode()
    assert "Summer-Sale" in both and "SUMMER-SALE-2" in both
    page = editor.get(f"/admin/promotions/promocode/{code.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Redemption history" in text and "cust-history" in text and "10 % off" in text
    assert editor.get(f"/admin/promotions/redemption/{redemption.pk}/change/").status_code == 200


def test_the_rollback_action_gives_the_use_back(editor):
    code = PromoCodeFactory(max_redemptions=2)
    redemption = _redeemed(code)
    response = editor.post(
        "/admin/promotions/redemption/",
        {"action": "rollback", "_selected_action": [redemption.pk]},
        follow=True,
    )
    assert response.status_code == 200 and "1 redemption(s) rolled back" in response.content.decode()
    redemption.refresh_from_db()
    code.refresh_from_db()
    assert (redemption.status, redemption.rollback_reason, code.redeemed_count) == ("rolled_back", "admin", 0)
    event = AuditEvent.objects.get(action="redemption.rolled_back", object_id=str(redemption.pk))
    assert event.actor.startswith("user:")
    twice = editor.post(
        "/admin/promotions/redemption/",
        {"action": "rollback", "_selected_action": [redemption.pk]},
        follow=True,
    )
    assert "cannot be rolled back" in twice.content.decode()


def test_a_viewer_sees_but_cannot_act(viewer):
    code = PromoCodeFactory()
    redemption = _redeemed(code)
    for url in (
        "/admin/promotions/codebatch/",
        "/admin/promotions/promocode/",
        "/admin/promotions/redemption/",
    ):
        assert viewer.get(url).status_code == 200, url
    assert viewer.get(ADD_URL).status_code == 403
    viewer.post("/admin/promotions/redemption/", {"action": "rollback", "_selected_action": [redemption.pk]})
    redemption.refresh_from_db()
    assert redemption.status == "committed"


def test_an_editor_deactivates_codes_and_they_answer_code_inactive_until_reactivated(editor, ingest_client):
    from tests.promotions.test_api import validate

    kept, stopped = PromoCodeFactory(code="KEEP-1"), PromoCodeFactory(code="STOP-1")
    url = "/admin/promotions/promocode/"
    done = editor.post(url, {"action": "deactivate", "_selected_action": [stopped.pk]}, follow=True)
    assert "1 code(s) deactivated." in done.content.decode()
    assert validate(ingest_client, "stop-1").json()["reason"] == "code_inactive"
    assert validate(ingest_client, "keep-1").json()["valid"] is True
    again = editor.post(url, {"action": "deactivate", "_selected_action": [stopped.pk, kept.pk]}, follow=True)
    assert "1 code(s) deactivated." in again.content.decode()  # STOP-1 already was
    (event,) = AuditEvent.objects.filter(action="promo_code.deactivated", object_id=str(stopped.pk))
    assert event.actor == "user:crm-editor" and event.changes == {"active": {"before": True, "after": False}}
    editor.post(url, {"action": "reactivate", "_selected_action": [stopped.pk]})
    assert validate(ingest_client, "stop-1").json()["valid"] is True
    # A code's own page stays a record: no save.
    page = editor.get(f"/admin/promotions/promocode/{stopped.pk}/change/").content.decode()
    assert 'name="_save"' not in page


def test_a_batch_action_deactivates_every_code_of_the_batch_with_one_audit_row(editor):
    campaign = CampaignFactory(kind="promotion", status="active")
    batch = services.code_batch_create(actor="system", campaign_id=campaign.pk, data=services.BatchInput(
        count=30, pattern="######", charset="ABCDEFGHJKMNPQRSTUVWXYZ23456789", prefix="B-", postfix="",
        max_redemptions=1, per_customer_limit=None, valid_from=None, valid_until=None,
        benefit={"type": "percent", "value": "10"}, min_order_value=None,
    ))  # fmt: skip
    services.code_batch_generate(job_id=batch.job_id)
    other = PromoCodeFactory(campaign=campaign)
    done = editor.post(
        "/admin/promotions/codebatch/",
        {"action": "deactivate_codes", "_selected_action": [batch.pk]},
        follow=True,
    )
    assert "30 code(s) deactivated." in done.content.decode()
    page = editor.get(f"/admin/promotions/codebatch/{batch.pk}/change/").content.decode()
    assert f'href="/api/v1/campaigns/{campaign.pk}/codes/export/"' in page
    export = editor.get(f"/api/v1/campaigns/{campaign.pk}/codes/export/")  # the admin session is enough
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert len(b"".join(export.streaming_content).decode().splitlines()) == 1 + 31
    assert not PromoCode.objects.filter(batch=batch, active=True).exists()
    other.refresh_from_db()
    assert other.active
    (event,) = AuditEvent.objects.filter(action="code_batch.deactivated", object_id=str(batch.pk))
    assert event.changes == {"codes_deactivated": {"before": 0, "after": 30}}


def test_a_viewer_cannot_deactivate_and_a_huge_selection_asks_for_the_batch(viewer, monkeypatch):
    code = PromoCodeFactory()
    viewer.post("/admin/promotions/promocode/", {"action": "deactivate", "_selected_action": [code.pk]})
    code.refresh_from_db()
    assert code.active
    monkeypatch.setattr(services, "MAX_CODES_SELECTED", 0)
    with pytest.raises(services.ValidationFailed):
        services.codes_set_active(actor="system", active=False, code_ids=[code.pk])
    with pytest.raises(services.ValidationFailed):
        services.codes_set_active(actor="system", active=False)
