"""Reads of the campaigns app that are more than a `.get()`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet

from campaigns.item_rules_csv import ImportPlan, ParsedCsv, parse_item_rules_csv, plan_import, rules_csv
from campaigns.models import Budget, BudgetLedger, Campaign, CampaignTransition, ItemRule
from campaigns.rules import ItemRuleSpec
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


def item_rule_specs(*, campaign_id: int) -> list[tuple[int, ItemRuleSpec]]:
    """(rule id, rule) pairs of a campaign, oldest first: what the CSV export and import compare."""
    rows = ItemRule.objects.filter(campaign_id=campaign_id).order_by("id")
    return [
        (rule_id, ItemRuleSpec(kind, match, value, multiplier, bonus))
        for rule_id, kind, match, value, multiplier, bonus in rows.values_list(
            "id", "kind", "match", "value", "multiplier", "bonus_per_unit"
        )
    ]


def item_rules_csv_export(*, campaign_id: int) -> str:
    """The campaign's item rules as a CSV file the import reads back unchanged."""
    return rules_csv(spec for _rule_id, spec in item_rule_specs(campaign_id=campaign_id))


def item_rules_csv_preview(
    *, campaign_id: int, content: bytes | str, remove_missing: bool
) -> tuple[ParsedCsv, ImportPlan]:
    """What applying this CSV would change (raises CsvImportError for a bad file); changes nothing."""
    parsed = parse_item_rules_csv(content)
    plan = plan_import(
        item_rule_specs(campaign_id=campaign_id),
        [spec for _line, spec in parsed.rules],
        remove_missing=remove_missing,
    )
    return parsed, plan


def budget_get(*, campaign_id: int | str) -> Budget:
    """The campaign's budget; 404 for an unknown campaign or one without a budget."""
    campaign = campaign_get(campaign_id=campaign_id)
    budget = Budget.objects.filter(campaign=campaign).first()
    if budget is None:
        raise NotFoundError(f"Campaign {campaign.pk} has no budget; PUT one first.")
    return budget


def budget_ledger(*, budget: Budget) -> QuerySet[BudgetLedger]:
    return BudgetLedger.objects.filter(budget=budget).order_by("created_at", "id")


def budgets_used_percent(*, since: datetime) -> list[tuple[int, Decimal]]:
    """(campaign id, used % of its budget) for budgeted campaigns active, paused, or completed after `since`."""
    rows = (
        Budget.objects.filter(
            Q(campaign__status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED])
            | Q(campaign__status=Campaign.Status.COMPLETED, campaign__completed_at__gte=since)
        )
        .order_by("campaign_id")
        .values_list("campaign_id", "committed", "reserved", "limit")
    )
    return [
        (campaign_id, ((committed + reserved) * 100 / limit).quantize(Decimal("0.01")))
        for campaign_id, committed, reserved, limit in rows
    ]
