"""Thin Celery tasks of the customers app (ids in, services do the work)."""

from __future__ import annotations

from config.celery import tenant_task
from core import task_names
from customers.services import segment_compute


@tenant_task(name=task_names.COMPUTE_SEGMENT)
def compute_segment_task(segment_id: int) -> int:
    """The exact count of a segment (`POST /segments/{id}/compute/`); safe twice (one history row each)."""
    return segment_compute(segment_id=segment_id).size
