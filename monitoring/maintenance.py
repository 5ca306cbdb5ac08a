"""The per-brand maintenance tick: one message per brand every MAINTENANCE_TICK_SECONDS runs the
periodic jobs marked `in_tick` in tenants/schedules.py, each at its own cadence.

Why (ADR 0008, idle cost): with one beat entry per job, an idle platform sent ~45 messages a minute
per brand (dispatcher + per-brand task each time) and spent > 1 % of a core doing nothing. The tick
sends one per brand per period and runs the jobs in-process. Each job keeps its declared cadence:
a cache key per brand and job (`cache.add` with a TTL just under the cadence; keys are prefixed by
the brand's schema) lets it run at most once per period. A job that fails is logged and does not
stop the others; the partner dispatch sweep, which may send HTTP requests, runs last.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

from config.celery import app, tenant_task
from core import task_names
from tenants.schedules import MAINTENANCE_TICK_SECONDS, tick_jobs

logger = logging.getLogger(__name__)


def _due(task_name: str, every_seconds: int) -> bool:
    # TTL half a tick short of the cadence, so a 10 s job runs on every 10 s tick despite jitter.
    ttl = max(1, every_seconds - MAINTENANCE_TICK_SECONDS // 2)
    return cache.add(f"maintenance:last:{task_name}", 1, timeout=ttl)


def _task(name: str):
    if name not in app.tasks:
        # The worker autodiscovered every app's tasks at start; elsewhere (a shell, tests) import them
        # now. Not on every tick: it costs ~10 ms of CPU even when everything is imported.
        app.loader.import_default_modules()
    return app.tasks[name]


@tenant_task(name=task_names.MAINTENANCE_TICK)
def maintenance_tick_task() -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for job in tick_jobs():
        if not _due(job.tenant_task, job.every_seconds or MAINTENANCE_TICK_SECONDS):
            continue
        try:
            _task(job.tenant_task)()  # in-process, in this brand's schema
            outcomes[job.tenant_task] = "ok"
        except Exception:
            logger.exception("maintenance job failed", extra={"job": job.tenant_task})
            outcomes[job.tenant_task] = "failed"
    return outcomes
