"""Reads of notifications and awards for reports (campaign stats, SPEC §2)."""

from __future__ import annotations

from django.db.models import Count

from notifications.models import Notification

# The keys SPEC §2 fixes for campaign stats, always present.
STATS_STATUSES = ("queued", "sent", "failed", "dead")


def notification_status_counts(*, campaign_id: int) -> dict[str, int]:
    """`{"queued", "sent", "failed", "dead"}` counts of one campaign's notifications (zeros included).

    A notification being sent (`sending`) counts as `queued`: it is not sent yet. Any other
    status of the delivery vocabulary, which push does not produce today, would appear under its
    own name rather than be dropped.
    """
    counts = dict.fromkeys(STATS_STATUSES, 0)
    rows = (
        Notification.objects.filter(campaign_id=campaign_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for status, n in rows:
        key = Notification.Status.QUEUED.value if status == Notification.Status.SENDING else status
        counts[key] = counts.get(key, 0) + n
    return counts
