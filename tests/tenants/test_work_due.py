"""The public work-due index: only brands with work due get a maintenance tick, in one query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from campaigns.models import Campaign
from campaigns.services import campaign_activate
from monitoring.maintenance import maintenance_tick_task, next_work_due_at
from purchases.models import Purchase
from tenants.models import BrandWorkDue
from tenants.schedules import tick_jobs
from tenants.tasks import schema_probe_task
from tenants.work_due import work_due_at, work_due_claim
from tests.campaigns.factories import CampaignFactory


@pytest.fixture
def asleep(brands, db):
    """Every brand of the session asleep: nothing due."""
    BrandWorkDue.objects.all().update(due_at=None, last_activity_at=None)
    connection.set_schema_to_public()


def _due(schema: str):
    return BrandWorkDue.objects.get(schema_name=schema).due_at


def test_the_dispatcher_reads_the_index_in_one_query_and_claims_only_due_brands(
    asleep, django_assert_num_queries
):
    now = timezone.now()
    BrandWorkDue.objects.bulk_create(
        [BrandWorkDue(schema_name=f"idle_x_{n}", due_at=now + timedelta(hours=1)) for n in range(300)]
    )
    BrandWorkDue.objects.filter(schema_name="brand_b").update(due_at=now - timedelta(seconds=1))
    # One statement, whatever the number of brands (the other query is django-tenants' SET search_path).
    with django_assert_num_queries(2):
        assert work_due_claim(now=now) == ["brand_b"]
    with django_assert_num_queries(2):
        assert work_due_claim(now=now) == []  # claimed: leased until its tick reports
    assert _due("brand_b") == now + timedelta(seconds=settings.WORK_DUE_CLAIM_SECONDS)


def test_a_new_brand_is_due_at_once(asleep):
    from tenants.services import brand_create

    brand_create(schema_name="due_new", name="Due new", domain="due-new.localhost")
    assert _due("due_new") <= timezone.now()


def test_activating_a_campaign_makes_its_brand_due_at_ends_at(
    asleep, brand_a, django_capture_on_commit_callbacks
):
    ends_at = timezone.now() + timedelta(hours=3)
    campaign = CampaignFactory(ends_at=ends_at)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_activate(campaign_id=campaign.pk, actor="user:tester")
    assert _due("brand_a") == ends_at


def test_a_tenant_task_that_ran_makes_its_brand_due_at_the_next_tick(asleep, brand_a):
    schema_probe_task.apply()
    row = BrandWorkDue.objects.get(schema_name="brand_a")
    assert row.due_at <= timezone.now() + timedelta(seconds=settings.MAINTENANCE_TICK_SECONDS)
    assert row.last_activity_at is not None
    assert _due("brand_b") is None


def test_campaigns_past_ends_at_in_every_brand_are_closed_by_the_ticks_the_index_sends(
    asleep, brands, django_capture_on_commit_callbacks
):
    ends_at = timezone.now() - timedelta(seconds=1)
    campaigns = {}
    for schema in ("brand_a", "brand_b"):
        with tenant_context(brands[schema]):
            cache.delete_many([f"maintenance:last:{job.tenant_task}" for job in tick_jobs()])
            campaign = CampaignFactory(status="active")
            Campaign.objects.filter(pk=campaign.pk).update(ends_at=ends_at)
            with django_capture_on_commit_callbacks(execute=True):
                work_due_at(at=ends_at)
            campaigns[schema] = campaign.pk
    assert work_due_claim(now=ends_at - timedelta(seconds=1)) == []
    # The dispatcher's first run after ends_at (it runs every MAINTENANCE_TICK_SECONDS): both brands.
    claimed = work_due_claim(now=timezone.now())
    assert claimed == ["brand_a", "brand_b"]
    for schema in claimed:
        with tenant_context(brands[schema]):
            maintenance_tick_task.run()
            assert Campaign.objects.get(pk=campaigns[schema]).status == "completed"
    # Each tick recorded its verdict: nothing live, so asleep until the idle backstop.
    for schema in claimed:
        assert _due(schema) > timezone.now() + timedelta(hours=1)


def test_the_tick_keeps_a_brand_with_live_work_due_at_the_next_tick(asleep, brand_a):
    now = timezone.now()
    assert next_work_due_at(now) == now + timedelta(seconds=settings.WORK_DUE_IDLE_RECHECK_SECONDS)
    Purchase.objects.create(
        external_id="due-1",
        customer_id="c1",
        channel="in_store",
        purchased_at=now,
        currency="EUR",
        total="1.00",
        items=[{"sku": "a", "quantity": 1, "unit_price": "1.00"}],
        body_hash="x" * 64,
    )
    assert next_work_due_at(now) == now + timedelta(seconds=settings.MAINTENANCE_TICK_SECONDS)


def test_work_due_refuses_the_public_schema(db):
    with schema_context("public"), pytest.raises(ValueError):
        work_due_at(at=timezone.now())
