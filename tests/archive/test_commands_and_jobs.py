"""Operator commands (archive_campaign, read_archive, archive_status) and the daily job."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from archive.models import ArchiveRun
from archive.storage import ArchiveStorage
from archive.tasks import archive_campaign_task, archive_due_task
from campaigns.models import Campaign
from outbox.models import OutboxMessage
from purchases.models import Evaluation
from tenants.schedules import PERIODIC_JOBS
from tests.archive.conftest import make_completed_campaign_with_data


def test_dry_run_prints_counts_and_writes_nothing(campaign_data, archive_url, capsys):
    campaign = campaign_data.campaign
    evaluations = Evaluation.objects.filter(campaign=campaign).count()
    call_command("archive_campaign", schema="brand_a", campaign=campaign.pk, dry_run=True)
    out = capsys.readouterr().out
    assert f"evaluations: {evaluations} rows" in out and "dry run" in out
    assert f"tenant=brand_a/campaign={campaign.pk}" in out
    assert not ArchiveStorage(archive_url).list_files("")
    assert not ArchiveRun.objects.exists()
    assert Evaluation.objects.filter(campaign=campaign).count() == evaluations


def test_archive_campaign_command_then_read_archive_and_status(campaign_data, archive_url, capsys):
    campaign = campaign_data.campaign
    call_command("archive_campaign", schema="brand_a", campaign=campaign.pk)
    captured = capsys.readouterr()
    assert "archived:" in captured.out and "rows/s" in captured.err  # tqdm progress with its rate
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ARCHIVED

    call_command("read_archive", f"{archive_url}/tenant=brand_a/campaign={campaign.pk}", rows=2)
    out = capsys.readouterr().out
    manifest = json.loads(out[: out.index("\n== ")])
    assert manifest["campaign_id"] == campaign.pk
    sample = out[out.index("== evaluations:") :].splitlines()[1:3]
    assert [json.loads(line)["campaign_id"] for line in sample] == [campaign.pk, campaign.pk]

    call_command("archive_status", schema="brand_a")
    out = capsys.readouterr().out
    assert f"campaign {campaign.pk}" in out and "completed at done" in out


def test_commands_refuse_unknown_brands_and_campaigns(brand_a, archive_url, tmp_path):
    with pytest.raises(CommandError, match="No brand"):
        call_command("archive_campaign", schema="nope", campaign=1)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("archive_campaign", schema="brand_a", campaign=999999)
    with pytest.raises(CommandError, match=r"no manifest\.json"):
        call_command("read_archive", str(tmp_path))


def test_daily_job_enqueues_due_campaigns_only(brand_a, archive_url, settings):
    settings.ARCHIVE_AFTER_DAYS = 30
    due = make_completed_campaign_with_data(purchases=2, completed_days_ago=31).campaign
    make_completed_campaign_with_data(purchases=2, completed_days_ago=5)  # too recent
    assert archive_due_task.run() == 1
    messages = list(OutboxMessage.objects.order_by("id").values_list("task_name", "args"))
    assert messages == [("archive.archive_campaign", [due.pk]), ("archive.archive_expired_purchases", [])]

    assert archive_campaign_task.run(due.pk) > 0
    due.refresh_from_db()
    assert due.status == Campaign.Status.ARCHIVED
    assert archive_campaign_task.run(due.pk) == 0  # already archived: logged, not raised


def test_archive_job_is_registered_daily_and_configurable(db, settings):
    job = next(job for job in PERIODIC_JOBS if job.tenant_task == "archive.run_due")
    assert job.crontab == settings.ARCHIVE_CRONTAB == "30 3 * * *"
    call_command("setup_periodic_tasks")
    task = PeriodicTask.objects.get(name=job.name)
    assert task.task == "tenants.for_each_tenant" and json.loads(task.args) == ["archive.run_due"]
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == ("30", "3", "*")
