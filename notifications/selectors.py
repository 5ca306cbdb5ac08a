"""Reads of notifications and awards for reports (campaign stats, SPEC §2)."""

from __future__ import annotations

from django.db.models import Count

from awards.models import Award
from notifications.models import Notification


def notification_status_counts(*, campaign_id: int) -> dict[str, int]:
    """`{"queued", "sent", "failed", "dead"}` counts of one campaign's notifications (zeros included)."""
    counts = dict.fromkeys(Notification.Status.values, 0)
    rows = (
        Notification.objects.filter(campaign_id=campaign_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts.update(dict(rows))
    return counts


def award_count(*, campaign_id: int) -> int:
    return Award.objects.filter(campaign_id=campaign_id).count()
