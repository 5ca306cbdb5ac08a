"""Thin Celery tasks of promotions (ids in, services do the work)."""

from __future__ import annotations

from config.celery import tenant_task
from core import task_names
from promotions.services import code_batch_generate, redemptions_expire


@tenant_task(name=task_names.GENERATE_CODES)
def generate_codes_task(job_id: int) -> str:
    """Generate a batch's codes; safe twice (resumes from the job's count, never makes more)."""
    return code_batch_generate(job_id=job_id).status


@tenant_task(name=task_names.EXPIRE_RESERVATIONS)
def expire_reservations_task() -> int:
    """Release reservations past their expiry (run by the maintenance tick)."""
    return redemptions_expire()
