"""Reads of the campaigns app that are more than a `.get()`."""

from __future__ import annotations

from django.db.models import QuerySet

from campaigns.models import Campaign, CampaignTransition, ItemRule
from core.exceptions import NotFoundError


def campaign_list() -> QuerySet[Campaign]:
    """Campaigns newest first, with their partner (the list shows its slug: one query, not N)."""
    return Campaign.objects.select_related("partner").order_by("-created_at", "-id")


def campaign_get(*, campaign_id: int | str) -> Campaign:
    try:
        return Campaign.objects.select_related("partner").get(pk=int(campaign_id))
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"Campaign {campaign_id} does not exist.") from None


def item_rule_list(*, campaign_id: int) -> QuerySet[ItemRule]:
    return ItemRule.objects.filter(campaign_id=campaign_id).order_by("id")


def item_rule_get(*, campaign_id: int, rule_id: int | str) -> ItemRule:
    try:
        return ItemRule.objects.get(campaign_id=campaign_id, pk=int(rule_id))
    except (ItemRule.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"Item rule {rule_id} does not exist in campaign {campaign_id}.") from None


def campaign_transition_list(*, campaign_id: int) -> QuerySet[CampaignTransition]:
    return CampaignTransition.objects.filter(campaign_id=campaign_id).order_by("created_at", "id")
