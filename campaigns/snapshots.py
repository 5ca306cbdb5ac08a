"""Campaigns as the rules engine sees them: loaded from the ORM, compiled once, cached per version.

`campaigns.rules` is pure; this module is its bridge to the database. A compiled
campaign (sets and dicts of 2,000 item rules) costs milliseconds to build and
microseconds to use, so it is kept in an in-process cache keyed by
(tenant schema, campaign id, version, status). Every edit of a campaign or of
its item rules bumps `version`, so the next evaluation misses the cache and
compiles the new rules; the status is in the key because pausing a campaign
changes its verdict (`campaign_not_active`) without necessarily being an edit.
Older versions of a campaign are dropped when a newer one is compiled, and the
cache is bounded (least recently used entries go first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign, ItemRule
from campaigns.rules import CampaignSpec, CompiledCampaign, ItemRuleSpec, SegmentSpec, compile_campaign
from customers.dsl import parse_tree

MAX_CACHED_CAMPAIGNS = 512

# Campaigns whose purchases are evaluated (SPEC §3); completed ones only within the grace period.
EVALUATED_STATUSES = (Campaign.Status.ACTIVE, Campaign.Status.PAUSED)

# (schema, campaign id, version, status, version of its segment): editing the segment a campaign targets
# is not an edit of the campaign, but it changes its verdicts.
_CacheKey = tuple[str, int, int, str, int | None]
_cache: OrderedDict[_CacheKey, CompiledCampaign] = OrderedDict()
_lock = threading.Lock()

_CAMPAIGN_FIELDS = (
    "id",
    "version",
    "status",
    "starts_at",
    "ends_at",
    "purchase_channels",
    "currency",
    "min_purchase_value",
    "partner_id",
    "segment_id",
    "segment__kind",
    "segment__definition",
    "segment__version",
    "eligibility",
    "max_rewards_per_customer",
)


def _key(schema: str, row: dict) -> _CacheKey:
    return (schema, row["id"], row["version"], row["status"], row["segment__version"])


def evaluated_campaigns_q(*, now: datetime | None = None) -> Q:
    """Which campaigns a purchase is evaluated against now: active, paused, or completed within the grace."""
    now = now or timezone.now()
    grace: timedelta = settings.LATE_PURCHASE_GRACE
    return Q(status__in=EVALUATED_STATUSES) | Q(
        status=Campaign.Status.COMPLETED, completed_at__gt=now - grace
    )


def _spec(row: dict, rules: Iterable[ItemRuleSpec]) -> CampaignSpec:
    return CampaignSpec(
        id=row["id"],
        version=row["version"],
        status=row["status"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        purchase_channels=frozenset(row["purchase_channels"]),
        currency=row["currency"],
        min_purchase_value=row["min_purchase_value"],
        item_rules=tuple(rules),
        segment=SegmentSpec(
            id=row["segment_id"],
            kind=row["segment__kind"],
            definition=parse_tree(row["segment__definition"])
            if row["segment__kind"] == "dynamic" and row["segment__definition"]
            else None,
        )
        if row["segment_id"] is not None
        else None,
        eligibility=parse_tree(row["eligibility"], purchase=True) if row["eligibility"] else None,
        max_rewards_per_customer=row["max_rewards_per_customer"],
    )


def _load_rules(campaign_ids: list[int]) -> dict[int, list[ItemRuleSpec]]:
    rules: dict[int, list[ItemRuleSpec]] = {campaign_id: [] for campaign_id in campaign_ids}
    rows = ItemRule.objects.filter(campaign_id__in=campaign_ids).values_list(
        "campaign_id", "kind", "match", "value", "multiplier", "bonus_per_unit"
    )
    for campaign_id, kind, match, value, multiplier, bonus in rows.iterator(chunk_size=5000):
        rules[campaign_id].append(ItemRuleSpec(kind, match, value, multiplier, bonus))
    return rules


def _store(key: _CacheKey, compiled: CompiledCampaign) -> None:
    with _lock:
        schema, campaign_id = key[0], key[1]
        for stale in [k for k in _cache if k[0] == schema and k[1] == campaign_id and k != key]:
            del _cache[stale]
        _cache[key] = compiled
        _cache.move_to_end(key)
        while len(_cache) > MAX_CACHED_CAMPAIGNS:
            _cache.popitem(last=False)


def compiled_campaigns_for_evaluation(
    *, now: datetime | None = None
) -> list[tuple[CompiledCampaign, int | None]]:
    """The current brand's evaluated campaigns, compiled: `[(compiled, partner_id), ...]`.

    One query for the campaign rows; item rules are read only for the campaigns
    (or versions) not in the cache, in one more query.
    """
    schema = connection.schema_name
    rows = list(
        Campaign.objects.filter(evaluated_campaigns_q(now=now)).order_by("id").values(*_CAMPAIGN_FIELDS)
    )
    found: dict[int, CompiledCampaign] = {}
    missing: list[dict] = []
    with _lock:
        for row in rows:
            key = _key(schema, row)
            compiled = _cache.get(key)
            if compiled is None:
                missing.append(row)
            else:
                _cache.move_to_end(key)
                found[row["id"]] = compiled
    if missing:
        rules = _load_rules([row["id"] for row in missing])
        for row in missing:
            compiled = compile_campaign(_spec(row, rules[row["id"]]))
            _store(_key(schema, row), compiled)
            found[row["id"]] = compiled
    return [(found[row["id"]], row["partner_id"]) for row in rows]


def campaign_snapshot(*, campaign_id: int) -> CompiledCampaign:
    """One campaign compiled at its current version (cached), whatever its status."""
    row = Campaign.objects.values(*_CAMPAIGN_FIELDS).get(pk=campaign_id)
    key = _key(connection.schema_name, row)
    with _lock:
        compiled = _cache.get(key)
    if compiled is None:
        compiled = compile_campaign(_spec(row, _load_rules([campaign_id])[campaign_id]))
        _store(key, compiled)
    return compiled


def clear_snapshot_cache() -> None:
    """Forget every compiled campaign (tests; operators never need it: versions invalidate)."""
    with _lock:
        _cache.clear()
