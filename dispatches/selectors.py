"""Reads of dispatches for the audit API and admin."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from core.exceptions import NotFoundError
from dispatches.models import Dispatch, DispatchAttempt


def dispatch_list() -> QuerySet[Dispatch]:
    """Newest first, with what the list shows (purchase external id, partner slug) joined in."""
    return Dispatch.objects.select_related("purchase", "partner").only(
        "id",
        "campaign_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "sent_at",
        "replay_count",
        "purchase__external_id",
        "partner__slug",
    )


def dispatch_get(*, dispatch_id: uuid.UUID) -> Dispatch:
    """One dispatch with its attempts in order; 404 when it is not in this brand's schema."""
    try:
        return (
            Dispatch.objects.select_related("purchase", "partner")
            .prefetch_related(Prefetch("attempt_log", queryset=DispatchAttempt.objects.order_by("number")))
            .get(pk=dispatch_id)
        )
    except Dispatch.DoesNotExist:
        raise NotFoundError("No such dispatch.") from None
