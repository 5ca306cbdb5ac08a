"""Reads of notifications and awards for reports (campaign stats, SPEC §2)."""

from __future__ import annotations

from django.db.models import Count

from notifications.models import Message, Notification, Preference, Suppression

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


def preferences_of(*, customer_id: str) -> list[Preference]:
    return list(Preference.objects.filter(customer_id=customer_id).order_by("channel", "topic"))


def suppressions_list(*, channel: str = "", address: str = ""):
    rows = Suppression.objects.order_by("-created_at", "-id")
    if channel:
        rows = rows.filter(channel=channel)
    if address:
        rows = rows.filter(address__iexact=address.strip())
    return rows


def inbox_of(*, customer_id: str, unread: bool = False):
    rows = Message.objects.filter(
        customer_id=customer_id, channel="in_app", status__in=["sent", "delivered"]
    ).order_by("-created_at", "-id")
    return rows.filter(read_at__isnull=True) if unread else rows


def message_status_counts(*, campaign_id: int, broadcast_id: int | None = None) -> dict[str, int]:
    """A campaign's (or one broadcast's) messages by status and by skip reason."""
    counts: dict[str, int] = {}
    rows = Message.objects.filter(campaign_id=campaign_id)
    if broadcast_id is not None:
        rows = rows.filter(broadcast_id=broadcast_id)
    for status, reason, n in rows.values_list("status", "skip_reason").annotate(n=Count("id")).order_by():
        counts[status] = counts.get(status, 0) + n
        if reason:
            counts[f"{status}:{reason}"] = n
    return counts
