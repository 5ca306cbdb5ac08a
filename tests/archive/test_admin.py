"""The archive runs in the brand's admin, and the inline the Campaign admin shows."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client

from archive.admin import ArchiveRunInline
from archive.models import ArchiveRun
from archive.services import archive_campaign
from campaigns.models import Campaign
from outbox.models import OutboxMessage


def _staff_client() -> Client:
    user = get_user_model().objects.create_superuser("archivist", "a@example.com", "pw-archivist-1")
    client = Client(HTTP_HOST="brand-a.localhost")
    client.force_login(user)
    return client


def test_runs_list_and_detail_show_counts_location_and_duration(campaign_data, archive_url):
    run = archive_campaign(campaign_id=campaign_data.campaign.pk)
    client = _staff_client()

    listing = client.get("/admin/archive/archiverun/")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert run.location in body and f"{run.duration_seconds:.1f} s" in body and str(run.rows_exported) in body

    detail = client.get(f"/admin/archive/archiverun/{run.pk}/change/")
    assert detail.status_code == 200
    assert run.manifest_sha256 in detail.content.decode()


def test_resume_action_queues_unfinished_runs_through_the_outbox(campaign_data, archive_url):
    run = ArchiveRun.objects.create(
        kind=ArchiveRun.Kind.CAMPAIGN,
        campaign=campaign_data.campaign,
        status=ArchiveRun.Status.FAILED,
        location="x",
    )
    response = _staff_client().post(
        "/admin/archive/archiverun/", {"action": "resume_runs", "_selected_action": [run.pk]}
    )
    assert response.status_code == 302
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.args) == ("archive.archive_campaign", [campaign_data.campaign.pk])


def test_archive_run_inline_is_valid_on_a_campaign_admin(brand_a):
    class CampaignWithArchive(admin.ModelAdmin):
        inlines = [ArchiveRunInline]

    assert CampaignWithArchive(Campaign, admin.site).check() == []
