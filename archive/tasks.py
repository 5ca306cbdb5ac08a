"""Thin tasks of the archive: beat's daily job (per brand) and one campaign's archive."""

from __future__ import annotations

import logging

from archive.services import archive_campaign, archive_expired_purchases, campaigns_due_for_archive
from config.celery import tenant_task
from core import task_names
from core.exceptions import ConflictError
from outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)


@tenant_task(name=task_names.RUN_DUE_ARCHIVES)
def archive_due_task() -> int:
    """Daily, per brand: one archive task per due campaign, then the purchase-retention sweep."""
    campaign_ids = campaigns_due_for_archive()
    for campaign_id in campaign_ids:
        outbox_enqueue(task_name=task_names.ARCHIVE_CAMPAIGN, args=[campaign_id])
    outbox_enqueue(task_name=task_names.ARCHIVE_EXPIRED_PURCHASES)
    return len(campaign_ids)


@tenant_task(name=task_names.ARCHIVE_CAMPAIGN)
def archive_campaign_task(campaign_id: int) -> int:
    try:
        run = archive_campaign(campaign_id=campaign_id)
    except ConflictError as exc:
        # Not ready (dispatches in flight, grace period) or already running: tomorrow's job tries again.
        logger.info("campaign not archived: %s", exc.message, extra={"campaign": campaign_id})
        return 0
    return run.rows_exported


@tenant_task(name=task_names.ARCHIVE_EXPIRED_PURCHASES)
def archive_expired_purchases_task() -> int:
    try:
        run = archive_expired_purchases()
    except ConflictError as exc:
        logger.info("purchases not archived: %s", exc.message)
        return 0
    return run.rows_exported if run else 0
