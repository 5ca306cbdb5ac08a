"""Thin per-brand task of journeys: run by the maintenance tick (in_tick)."""

from __future__ import annotations

from config.celery import tenant_task
from core import task_names


@tenant_task(name=task_names.RUN_DUE_JOURNEYS)
def journeys_run_due_task() -> dict:
    from journeys.services_tick import journeys_run_due

    return journeys_run_due()
