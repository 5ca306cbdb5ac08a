"""Thin per-brand task of experiments: the hourly exposures refresh."""

from __future__ import annotations

from config.celery import tenant_task
from core import task_names


@tenant_task(name=task_names.EXPERIMENTS_REFRESH)
def experiments_refresh_task() -> dict:
    from experiments.services import exposures_refresh

    result = exposures_refresh()
    return {"exposures": result.exposures, "clicks": result.clicks, "conversions": result.conversions}
