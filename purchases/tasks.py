"""Thin Celery tasks of the purchase pipeline (ids in, services do the work)."""

from __future__ import annotations

from config.celery import tenant_task
from purchases.services import purchases_evaluate, purchases_sweep_unevaluated


@tenant_task(name="purchases.evaluate_batch")
def evaluate_batch_task(purchase_ids: list[int]) -> int:
    """Evaluate a batch of purchases (one message per ingestion request); safe to run twice."""
    return purchases_evaluate(purchase_ids=purchase_ids).evaluated


@tenant_task(name="purchases.sweep_unevaluated")
def sweep_unevaluated_task() -> int:
    """Per-brand beat job: re-enqueue purchases left unevaluated for more than a minute."""
    return purchases_sweep_unevaluated()
