"""Thin per-brand task of analytics: the hourly refresh."""

from __future__ import annotations

from config.celery import tenant_task
from core import task_names


@tenant_task(name=task_names.ANALYTICS_REFRESH)
def analytics_refresh_task() -> dict:
    """Attribution and rollups (analytics), then the experiments' exposures, clicks and conversions."""
    from analytics.services import analytics_refresh

    result = analytics_refresh()
    return {"conversions": result.conversions, "hourly_rows": result.hourly_rows,
            "hourly_deleted": result.hourly_deleted, "daily_rows": result.daily_rows}  # fmt: skip
