"""The per-brand job that completes campaigns past `ends_at` (SPEC §4, §9)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignTransition
from campaigns.tasks import campaigns_complete_expired_task
from config.celery import TenantContextError, app
from tenants.schedules import PERIODIC_JOBS
from tests.campaigns.factories import CampaignFactory


def test_job_is_scheduled_every_minute_for_every_brand():
    job = next(job for job in PERIODIC_JOBS if job.tenant_task == "campaigns.complete_expired")
    assert job.every_seconds == 60
    app.loader.import_default_modules()
    assert "campaigns.complete_expired" in app.tasks


def test_task_completes_what_has_ended_in_this_brand_only(brand_a, brand_b):
    from django_tenants.utils import tenant_context

    ended = CampaignFactory(status="active")
    Campaign.objects.filter(pk=ended.pk).update(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(seconds=30)
    )
    with tenant_context(brand_b):
        other = CampaignFactory(status="active")
        Campaign.objects.filter(pk=other.pk).update(
            starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(seconds=30)
        )
    from django.db import connection

    connection.set_tenant(brand_a)
    assert campaigns_complete_expired_task() == 1
    ended.refresh_from_db()
    assert ended.status == "completed"
    assert ended.completed_at is not None
    row = CampaignTransition.objects.get(campaign=ended)
    assert (row.from_status, row.to_status, row.actor) == ("active", "completed", "system")
    with tenant_context(brand_b):
        assert Campaign.objects.get(pk=other.pk).status == "active"
    assert campaigns_complete_expired_task() == 0  # idempotent


def test_task_refuses_the_public_schema(db):
    with pytest.raises(TenantContextError):
        campaigns_complete_expired_task()
