"""The naive design `bench/pipeline.py` compares against: one Celery task per purchase, ORM calls.

Not used by the product, and not a benchmark itself: bench/pipeline.py's Celery worker imports it
(`--include bench.naive_pipeline`). It is what a first version typically looks like: the
view stores a purchase and sends one task; the task loads the purchase, the
active campaigns and, per campaign, the item rules matching the purchase's skus
and categories (one query each, not the whole list), computes the value with
the same SPEC §3 rules, and writes one evaluation (and dispatch) row at a time.
Deliberately not a strawman: no query per line, rules filtered in the database.
"""

from __future__ import annotations

from decimal import Decimal

import requests
from django.db import transaction
from django.utils import timezone

from bench._app import Dispatch
from campaigns.models import Campaign, ItemRule
from config.celery import tenant_task
from core.money import to_minor_unit
from purchases.models import Evaluation, Purchase

_session = requests.Session()


def _value(campaign: Campaign, purchase: Purchase) -> Decimal:
    keys = {item["sku"] for item in purchase.items} | {
        item["category"] for item in purchase.items if item.get("category")
    }
    rules = list(ItemRule.objects.filter(campaign=campaign, value__in=keys))
    total = Decimal(0)
    for item in purchase.items:
        matching = [
            rule
            for rule in rules
            if (rule.match == "sku" and rule.value == item["sku"])
            or (rule.match == "category" and rule.value == item.get("category"))
        ]
        line_total = item["quantity"] * Decimal(item["unit_price"])
        if any(rule.kind == "blacklist" for rule in matching):
            continue
        boosts = [
            line_total * rule.multiplier + item["quantity"] * rule.bonus_per_unit
            for rule in matching
            if rule.kind == "whitelist"
        ]
        total += max(boosts) if boosts else line_total
    return to_minor_unit(total, campaign.currency)


def _reason(campaign: Campaign, purchase: Purchase, value: Decimal) -> str | None:
    if campaign.status == "paused":
        return "campaign_not_active"
    if not (campaign.starts_at <= purchase.purchased_at < campaign.ends_at):
        return "outside_validity"
    if purchase.channel not in campaign.purchase_channels:
        return "channel_not_allowed"
    if purchase.currency != campaign.currency:
        return "currency_mismatch"
    if not value:
        return "no_eligible_items"
    if value < campaign.min_purchase_value:
        return "below_minimum"
    return None


@tenant_task(name="bench.naive_evaluate")
@transaction.atomic
def naive_evaluate_task(purchase_id: int, send: bool) -> None:
    purchase = Purchase.objects.get(pk=purchase_id)
    if purchase.evaluated_at is not None:
        return
    for campaign in Campaign.objects.filter(status__in=["active", "paused"]).select_related("partner"):
        value = _value(campaign, purchase)
        reason = _reason(campaign, purchase, value)
        Evaluation.objects.create(
            purchase=purchase,
            campaign=campaign,
            campaign_version=campaign.version,
            eligible=reason is None,
            eligible_value=value,
            reason=reason,
            evaluated_at=timezone.now(),
        )
        if reason is None:
            dispatch = Dispatch.objects.create(purchase=purchase, campaign=campaign, partner=campaign.partner)
        if reason is None and send:
            response = _session.post(
                campaign.partner.submission_url,
                json={"dispatch_id": str(dispatch.id), "purchase": purchase.external_id},
                headers={"Idempotency-Key": str(dispatch.id)},
                timeout=campaign.partner.timeout_seconds,
            )
            if response.ok:
                Dispatch.objects.filter(pk=dispatch.pk).update(
                    status="sent", attempts=1, sent_at=timezone.now()
                )
    purchase.evaluated_at = timezone.now()
    purchase.save(update_fields=["evaluated_at"])
