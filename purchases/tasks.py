"""Thin Celery tasks of the purchase pipeline (ids in, services do the work)."""

from __future__ import annotations

from config.celery import tenant_task
from core import task_names
from purchases import handoff
from purchases.services import (
    purchases_customer_stats_refresh,
    purchases_evaluate,
    purchases_sweep_unevaluated,
)


@tenant_task(name=task_names.EVALUATE_PURCHASES, bind=True)
def evaluate_batch_task(self, purchase_ids: list[int]) -> int:
    """Evaluate a batch of purchases (one message per ingestion request) and send the dispatches; safe twice.

    `redelivered` is set by the broker when a worker died holding this message
    (acks_late + reject_on_worker_lost): the service then counts the attempt first.
    """
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    outcome = purchases_evaluate(purchase_ids=purchase_ids, redelivered=redelivered)
    handoff.sender().schedule_retries(outcome.dispatch.retry_soon)
    return outcome.evaluated


@tenant_task(name=task_names.SWEEP_UNEVALUATED_PURCHASES)
def sweep_unevaluated_task() -> int:
    """Per-brand beat job: re-enqueue purchases left unevaluated for more than a minute."""
    return purchases_sweep_unevaluated()


@tenant_task(name=task_names.REFRESH_CUSTOMER_STATS)
def refresh_customer_stats_task() -> int:
    """Per-brand nightly job: customers' 90-day figures and RFM quintiles (the purchases are read here)."""
    return purchases_customer_stats_refresh()
