"""The maintenance tick runs every in-tick job at its own cadence, in the brand's schema, and survives
a failing job; setup_periodic_tasks writes one beat entry for them and removes their old ones."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_tenants.utils import schema_context

from config.celery import app
from monitoring.maintenance import maintenance_tick_task
from monitoring.models import HealthSnapshot
from tenants.schedules import MAINTENANCE_TICK_SECONDS, PERIODIC_JOBS, tick_jobs


@pytest.fixture(autouse=True)
def _fresh_cadence_keys(brand_a):
    cache.delete_many([f"maintenance:last:{job.tenant_task}" for job in tick_jobs()])
    yield
    cache.delete_many([f"maintenance:last:{job.tenant_task}" for job in tick_jobs()])


def test_every_in_tick_job_is_a_registered_task_and_the_dispatch_sweep_runs_last():
    app.loader.import_default_modules()
    names = [job.tenant_task for job in tick_jobs()]
    for name in names:
        assert name in app.tasks
    assert names[-1] == "partners.send_due_dispatches"
    assert all(job.every_seconds and job.every_seconds >= MAINTENANCE_TICK_SECONDS for job in tick_jobs())
    assert "maintenance.tick" in app.tasks


def test_each_job_runs_once_per_its_cadence(brand_a):
    first = maintenance_tick_task.run()
    assert set(first) == {job.tenant_task for job in tick_jobs()}
    assert set(first.values()) == {"ok"}
    assert HealthSnapshot.objects.filter(pk=1).exists()  # the monitoring tick ran in brand_a

    # A second tick right away: every job's period is still running.
    assert maintenance_tick_task.run() == {}

    # Once a 10 s job's key has expired (simulated), it runs again and only it.
    cache.delete("maintenance:last:outbox.relay")
    assert maintenance_tick_task.run() == {"outbox.relay": "ok"}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_failing_job_is_logged_and_the_others_still_run(brand_a, monkeypatch):
    task = app.tasks["campaigns.complete_expired"]

    def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(task, "run", boom)
    records = _Records()
    logging.getLogger("monitoring.maintenance").addHandler(records)
    try:
        outcomes = maintenance_tick_task.run()
    finally:
        logging.getLogger("monitoring.maintenance").removeHandler(records)
    assert outcomes["campaigns.complete_expired"] == "failed"
    assert outcomes["monitoring.tick"] == "ok"
    [record] = records.records
    assert record.getMessage() == "maintenance job failed" and record.job == "campaigns.complete_expired"
    assert record.exc_info[1].args == ("database on fire",)


def test_setup_periodic_tasks_writes_one_tick_entry_and_removes_the_old_per_job_entries(brands, db):
    with schema_context("public"):
        old = PeriodicTask.objects.create(
            name="partner dispatch sweep",
            task="tenants.for_each_tenant",
            args=json.dumps(["partners.send_due_dispatches"]),
            interval=IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.SECONDS)[0],
        )
        call_command("setup_periodic_tasks")
        assert not PeriodicTask.objects.filter(pk=old.pk).exists()
        tick = PeriodicTask.objects.get(name="maintenance tick")
        assert tick.task == "tenants.maintenance_dispatch" and json.loads(tick.args) == []
        assert tick.interval.every == MAINTENANCE_TICK_SECONDS
        in_tick_names = {job.name for job in PERIODIC_JOBS if job.in_tick}
        assert not PeriodicTask.objects.filter(name__in=in_tick_names).exists()
        assert PeriodicTask.objects.filter(name="archive completed campaigns").exists()
