"""Tasks carry the schema of the connection that sent them (real worker, real Redis)."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from config.celery import TenantContextError, app
from tenants.tasks import for_each_tenant, schema_probe_task

pytestmark = pytest.mark.usefixtures("celery_worker_thread")


def test_a_task_sent_inside_brand_a_runs_in_brand_a(brand_a):
    assert schema_probe_task.delay().get(timeout=10) == "brand_a"


def test_a_task_sent_inside_brand_b_runs_in_brand_b(brand_b):
    with schema_context("brand_b"):
        result = schema_probe_task.delay()
    assert result.get(timeout=10) == "brand_b"


def test_a_tenant_task_sent_from_public_fails_loudly_at_send(brands, db):
    assert connection.schema_name == "public"
    with pytest.raises(TenantContextError):
        schema_probe_task.delay()


def test_a_tenant_task_that_reaches_a_worker_in_public_fails_loudly(brands, db):
    # send_task bypasses the send-time check, as a hand-written beat entry would.
    result = app.send_task("tenants.schema_probe")
    with pytest.raises(TenantContextError):
        result.get(timeout=10)


def test_for_each_tenant_sends_one_task_per_brand_in_its_schema(brands, db, monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda name, **kw: sent.append((name, connection.schema_name)))
    assert for_each_tenant("tenants.schema_probe") == 2
    assert sorted(sent) == [("tenants.schema_probe", "brand_a"), ("tenants.schema_probe", "brand_b")]
