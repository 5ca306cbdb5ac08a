"""Reads of awards."""

from __future__ import annotations

from django.db.models import QuerySet

from awards.models import Award


def awards_of_customer(*, customer_id: str) -> QuerySet[Award]:
    """A customer's awards, newest first."""
    return (
        Award.objects.select_related("campaign", "partner", "notification")
        .filter(customer_id=customer_id)
        .order_by("-received_at", "-id")
    )


def award_count(*, campaign_id: int) -> int:
    return Award.objects.filter(campaign_id=campaign_id).count()
