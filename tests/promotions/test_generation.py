"""Code generation as a job (SPEC §12): 202 + job, progress, uniqueness by the index alone, the CSV export."""

from __future__ import annotations

import csv
import io

import pytest

from core import task_names
from outbox.models import OutboxMessage
from promotions import services
from promotions.models import DEFAULT_CHARSET, CodeBatch, Job, PromoCode
from tests.campaigns.factories import CampaignFactory
from tests.promotions.factories import PromoCodeFactory

pytestmark = pytest.mark.django_db

BENEFIT = {"type": "percent", "value": "10"}


def generate(client, campaign_id: int, **body):
    return client.post(
        f"/api/v1/campaigns/{campaign_id}/codes/generate/", {"benefit": BENEFIT, **body}, format="json"
    )


def test_generate_is_a_job_polled_until_done(crm_client):
    campaign = CampaignFactory(kind="promotion", status="active")
    response = generate(crm_client, campaign.pk, count=120, prefix="XMAS-", postfix="-26", max_redemptions=3)
    assert response.status_code == 202, response.content
    job = response.json()["job"]
    assert job["status"] == "queued" and job["progress"] == 0
    # The task goes through the outbox with the job's id: it runs after the commit.
    [message] = OutboxMessage.objects.filter(task_name=task_names.GENERATE_CODES)
    assert message.args == [job["id"]]
    assert crm_client.get(f"/api/v1/jobs/{job['id']}/").json()["status"] == "queued"

    services.code_batch_generate(job_id=job["id"], chunk=50)

    polled = crm_client.get(f"/api/v1/jobs/{job['id']}/").json()
    assert (polled["status"], polled["progress"], polled["done"], polled["total"]) == ("done", 100, 120, 120)
    codes = list(PromoCode.objects.filter(campaign=campaign).values_list("code", "max_redemptions"))
    assert len(codes) == len({code for code, _ in codes}) == 120
    for code, max_redemptions in codes:
        assert code.startswith("XMAS-") and code.endswith("-26") and max_redemptions == 3
        assert set(code[5:-3]) <= set(DEFAULT_CHARSET) and len(code[5:-3]) == 8


def test_progress_shows_between_chunks(crm_client, monkeypatch):
    campaign = CampaignFactory(kind="promotion", status="active")
    job_id = generate(crm_client, campaign.pk, count=10).json()["job"]["id"]
    seen: list[int] = []
    insert = services._insert_codes

    def insert_and_watch(batch, codes):
        seen.append(crm_client.get(f"/api/v1/jobs/{job_id}/").json()["progress"])
        return insert(batch, codes)

    monkeypatch.setattr(services, "_insert_codes", insert_and_watch)
    services.code_batch_generate(job_id=job_id, chunk=4)
    assert seen == [0, 40, 80]
    assert Job.objects.get(pk=job_id).status == "done"


def test_clashing_codes_are_dropped_by_the_index_and_topped_up(crm_client, monkeypatch):
    """The unique index on upper(code) is the only check: a clash in any case is skipped, then topped up."""
    taken = PromoCodeFactory(code="abcdefgh")  # another campaign's code, lower case
    campaign = CampaignFactory(kind="promotion", status="active")
    job_id = generate(crm_client, campaign.pk, count=5).json()["job"]["id"]
    real = services.random_codes
    calls: list[int] = []

    def with_clashes(*, count, **kwargs):
        calls.append(count)
        codes = real(count=count, **kwargs)
        if len(calls) == 1:  # the first draw repeats a taken code and itself
            codes[0], codes[1] = "ABCDEFGH", codes[2]
        return codes

    monkeypatch.setattr(services, "random_codes", with_clashes)
    job = services.code_batch_generate(job_id=job_id)
    assert job.status == "done" and job.done == 5
    assert calls == [5, 2]  # two of the five clashed: two more were drawn
    assert PromoCode.objects.filter(campaign=campaign).count() == 5
    assert PromoCode.objects.filter(code__iexact="abcdefgh").get() == taken


def test_a_crowded_pattern_fails_the_job_without_making_more(crm_client):
    campaign = CampaignFactory(kind="promotion", status="active")
    # Made directly (the API refuses such a space): two possible codes, three asked for.
    job = Job.objects.create(kind=Job.Kind.GENERATE_CODES, total=3)
    CodeBatch.objects.create(campaign=campaign, count=3, pattern="#", charset="AB", benefit=BENEFIT, job=job)
    result = services.code_batch_generate(job_id=job.pk)
    assert result.status == "failed" and result.done == 2
    assert "too crowded" in result.error
    assert sorted(PromoCode.objects.filter(campaign=campaign).values_list("code", flat=True)) == ["A", "B"]
    polled = crm_client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert polled["status"] == "failed" and polled["error"]


def test_running_twice_never_makes_more_than_count(crm_client):
    campaign = CampaignFactory(kind="promotion", status="active")
    job_id = generate(crm_client, campaign.pk, count=7).json()["job"]["id"]
    services.code_batch_generate(job_id=job_id, chunk=3)
    services.code_batch_generate(job_id=job_id, chunk=3)
    assert PromoCode.objects.filter(campaign=campaign).count() == 7
    assert Job.objects.get(pk=job_id).attempts == 2


def test_a_too_small_pattern_space_is_400_and_keeps_nothing(crm_client):
    campaign = CampaignFactory(kind="promotion", status="active")
    # 31² = 961 codes: fewer than 100 × 10.
    response = generate(crm_client, campaign.pk, count=10, pattern="##")
    assert response.status_code == 400
    assert "pattern" in response.json()["error"]["fields"]
    assert not CodeBatch.objects.exists() and not Job.objects.exists()
    # 961 ≥ 100 × 9: accepted; a second batch in the same space would make 18 codes: refused.
    assert generate(crm_client, campaign.pk, count=9, pattern="##").status_code == 202
    assert generate(crm_client, campaign.pk, count=9, pattern="##").status_code == 400
    # Another prefix is another space.
    assert generate(crm_client, campaign.pk, count=9, pattern="##", prefix="B-").status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        {"count": 0},
        {"count": "many"},
        {"count": 1_000_001},
        {"count": 5, "pattern": "FIXED"},
        {"count": 5, "charset": "A"},
        {"count": 5, "benefit": {"type": "percent", "value": "-5"}},
        {"count": 5, "max_redemptions": 0},
        {"count": 5, "valid_from": "2026-12-01T00:00:00Z", "valid_until": "2026-11-01T00:00:00Z"},
    ],
)
def test_bad_generation_bodies_are_400(crm_client, body):
    campaign = CampaignFactory(kind="promotion", status="active")
    response = crm_client.post(
        f"/api/v1/campaigns/{campaign.pk}/codes/generate/", {"benefit": BENEFIT, **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert not CodeBatch.objects.exists()


def test_generation_for_unknown_or_closed_campaigns(crm_client):
    assert generate(crm_client, 999_999, count=1).status_code == 404
    assert generate(crm_client, 999_999, count="not a number").status_code == 404  # the id first
    closed = CampaignFactory(kind="promotion", status="completed")
    response = generate(crm_client, closed.pk, count=1)
    assert response.status_code == 409 and response.json()["error"]["code"] == "campaign_closed"


def _streamed_csv(response) -> list[list[str]]:
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_streams_the_campaigns_codes_as_csv(crm_client, monkeypatch):
    from promotions import selectors

    monkeypatch.setattr(selectors, "EXPORT_CHUNK", 2)  # several chunks, keyset-paged
    campaign = CampaignFactory(kind="promotion", status="active")
    mine = [PromoCodeFactory(campaign=campaign, code=f"MINE{n}", max_redemptions=n or None) for n in range(5)]
    PromoCodeFactory(code="OTHER")
    rows = _streamed_csv(crm_client.get(f"/api/v1/campaigns/{campaign.pk}/codes/export/"))
    assert rows[0] == list(selectors.EXPORT_COLUMNS)
    assert [row[0] for row in rows[1:]] == [code.code for code in mine]
    assert rows[1][1] == ""  # unlimited
    assert rows[2][1:5] == ["1", "", "0", "0"] and rows[2][7] == "true"
    assert crm_client.get("/api/v1/campaigns/999999/codes/export/").status_code == 404


def test_code_list_filters_by_campaign(crm_client):
    campaign = CampaignFactory(kind="promotion", status="active")
    mine = [PromoCodeFactory(campaign=campaign) for _ in range(3)]
    PromoCodeFactory()
    body = crm_client.get(f"/api/v1/codes/?campaign={campaign.pk}").json()
    assert [row["code"] for row in body["results"]] == [code.code for code in mine]
    assert body["results"][0]["campaign_id"] == campaign.pk
    assert body["results"][0]["benefit"] == {"type": "percent", "value": "10"}
    assert len(crm_client.get("/api/v1/codes/").json()["results"]) == 4
    assert crm_client.get("/api/v1/codes/?campaign=abc").status_code == 400
