"""Campaign export and import (SPEC §13): JSON `{"schema_version": 1, "campaigns": [...]}`.

Export carries every field a CRM person configures: the campaign's own fields, its item rules,
its segment (by name: ids do not travel between brands), its eligibility rule and its budget
(configuration only: never counters). Code batches and experiments are not part of this branch
(`code_batches` and `experiments` are exported as empty lists and must be empty on import).

Import is all-or-nothing: every campaign is validated first (the same rules as the API); any error
is one 400 whose fields say which campaign (`campaigns[3].name`); a name already taken is 409
`name_taken` unless `on_conflict=rename` ("Name (2)", "Name (3)"…). Then one transaction inserts
every campaign as a `draft` (bulk insert), its lifecycle row, its item rules (one COPY for all)
and budget, and one `campaign.imported` audit row per campaign. `dry_run` validates and answers
what would be created, writing nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.budget_units import reward_unit
from campaigns.item_rules_csv import clean_rule
from campaigns.models import Budget, Campaign, CampaignTransition, ItemRule
from campaigns.rules import ItemRuleSpec
from campaigns.services import campaign_validate
from core.audit import audit_record_many, json_value
from core.exceptions import ConflictError, ValidationFailed
from customers.models import Segment
from partners.models import Partner

SCHEMA_VERSION = 1
MAX_CAMPAIGNS = 1000
MAX_RULES_PER_CAMPAIGN = 10_000
CONFIG_FIELDS = (
    "name",
    "kind",
    "starts_at",
    "ends_at",
    "purchase_channels",
    "currency",
    "min_purchase_value",
    "reward",
    "notification",
    "eligibility",
)
BUDGET_FIELDS = ("kind", "limit", "period", "pause_at_percent")


def _decimal(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")


# --------------------------------------------------------------------------- export


def campaigns_export(*, ids: Sequence[int] | None = None) -> dict[str, Any]:
    """The export document of the campaigns `ids` (all when None), in id order; 3 queries in all."""
    campaigns = Campaign.objects.select_related("partner", "segment").order_by("pk")
    if ids is not None:
        campaigns = campaigns.filter(pk__in=list(ids))
    campaigns = list(campaigns)
    by_id = {c.pk: c for c in campaigns}
    rules: dict[int, list[dict[str, Any]]] = {pk: [] for pk in by_id}
    for campaign_id, kind, match, value, multiplier, bonus in (
        ItemRule.objects.filter(campaign_id__in=by_id)
        .order_by("campaign_id", "id")
        .values_list("campaign_id", "kind", "match", "value", "multiplier", "bonus_per_unit")
    ):
        rules[campaign_id].append(
            {
                "kind": kind,
                "match": match,
                "value": value,
                "multiplier": _decimal(multiplier),
                "bonus_per_unit": _decimal(bonus),
            }
        )
    budgets = {b.campaign_id: b for b in Budget.objects.filter(campaign_id__in=by_id)}
    out = []
    for campaign in campaigns:
        budget = budgets.get(campaign.pk)
        out.append(
            {
                "name": campaign.name,
                "kind": campaign.kind,
                "starts_at": json_value(campaign.starts_at),
                "ends_at": json_value(campaign.ends_at),
                "purchase_channels": list(campaign.purchase_channels),
                "currency": campaign.currency,
                "min_purchase_value": _decimal(campaign.min_purchase_value),
                "partner": campaign.partner.slug if campaign.partner else None,
                "reward": campaign.reward or {},
                "notification": campaign.notification or {},
                "segment": campaign.segment.name if campaign.segment else None,
                "eligibility": campaign.eligibility,
                "item_rules": rules[campaign.pk],
                "budget": None
                if budget is None
                else {
                    "kind": budget.kind,
                    "limit": _decimal(budget.limit),
                    "period": budget.period,
                    "pause_at_percent": budget.pause_at_percent,
                },
                "code_batches": [],
                "experiments": [],
            }
        )
    return {"schema_version": SCHEMA_VERSION, "campaigns": out}


# --------------------------------------------------------------------------- import


@dataclass
class _Planned:
    campaign: Campaign
    rules: list[ItemRuleSpec] = field(default_factory=list)
    budget: dict[str, Any] | None = None
    renamed_from: str | None = None


@dataclass(frozen=True)
class ImportResult:
    dry_run: bool
    campaigns: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "created": len(self.campaigns), "campaigns": self.campaigns}


def _clean_one(
    index: int, raw: Any, partners: dict[str, Partner], segments: dict[str, Segment], errors: dict
) -> _Planned | None:
    prefix = f"campaigns[{index}]"

    def add(name: str, message: str) -> None:
        errors.setdefault(f"{prefix}.{name}", []).append(message)

    if not isinstance(raw, dict):
        add("campaign", "Each campaign is a JSON object.")
        return None
    unknown = set(raw) - {
        *CONFIG_FIELDS,
        "partner",
        "segment",
        "item_rules",
        "budget",
        "code_batches",
        "experiments",
    }
    for name in sorted(unknown):
        add(name, "Unknown field.")
    for name in ("code_batches", "experiments"):
        if raw.get(name) not in (None, []):
            add(name, "Not supported by this import yet: leave it empty.")
    partner = None
    if raw.get("partner") is not None:
        partner = partners.get(raw["partner"]) if isinstance(raw["partner"], str) else None
        if partner is None:
            add("partner", f"No partner {raw['partner']!r} in this brand.")
    segment = None
    if raw.get("segment") is not None:
        segment = segments.get(raw["segment"]) if isinstance(raw["segment"], str) else None
        if segment is None:
            add("segment", f"No segment named {raw['segment']!r} in this brand.")
    values: dict[str, Any] = {}
    for name in ("starts_at", "ends_at"):
        text = raw.get(name)
        parsed = parse_datetime(text) if isinstance(text, str) else None
        if parsed is None or parsed.tzinfo is None:
            add(name, "An ISO 8601 date and time with its offset, like 2026-12-01T00:00:00Z.")
        values[name] = parsed
    try:
        values["min_purchase_value"] = Decimal(str(raw.get("min_purchase_value", "0")))
    except InvalidOperation:
        add("min_purchase_value", "A decimal number, like 50.00.")
        values["min_purchase_value"] = Decimal(0)
    campaign = Campaign(
        name=raw.get("name") if isinstance(raw.get("name"), str) else "",
        kind=raw.get("kind"),
        starts_at=values["starts_at"] or timezone.now(),
        ends_at=values["ends_at"] or timezone.now(),
        purchase_channels=raw.get("purchase_channels")
        if isinstance(raw.get("purchase_channels"), list)
        else [],
        currency=raw.get("currency") if isinstance(raw.get("currency"), str) else "",
        min_purchase_value=values["min_purchase_value"],
        partner=partner,
        reward=raw.get("reward") or {},
        notification=raw.get("notification") or {},
        segment=segment,
        eligibility=raw.get("eligibility"),
        status=Campaign.Status.DRAFT,
    )
    try:
        campaign_validate(campaign, check_unique=False)
    except DjangoValidationError as exc:
        for name, messages in exc.message_dict.items():
            for message in messages:
                add(name, message)
    planned = _Planned(campaign=campaign)
    raw_rules = raw.get("item_rules") or []
    if not isinstance(raw_rules, list) or len(raw_rules) > MAX_RULES_PER_CAMPAIGN:
        add("item_rules", f"A list of at most {MAX_RULES_PER_CAMPAIGN} rules.")
        raw_rules = []
    seen: set[tuple[str, str, str]] = set()
    for number, rule in enumerate(raw_rules):
        if not isinstance(rule, dict):
            add(f"item_rules[{number}]", "Each rule is a JSON object.")
            continue
        spec = _fast_rule(rule)
        rule_errors: dict[str, list[str]] = {}
        if spec is None:  # the full check, for its messages
            spec, rule_errors = clean_rule(
                rule.get("kind"),
                rule.get("match"),
                rule.get("value"),
                str(rule.get("multiplier", "1")),
                str(rule.get("bonus_per_unit", "0")),
            )
        for name, messages in rule_errors.items():
            for message in messages:
                add(f"item_rules[{number}].{name}", message)
        if spec is not None:
            key = (spec.kind, spec.match, spec.value)
            if key in seen:
                add(f"item_rules[{number}]", "The same kind, match and value appear twice.")
            seen.add(key)
            planned.rules.append(spec)
    budget = raw.get("budget")
    if budget is not None:
        planned.budget = _clean_budget(budget, campaign, lambda name, message: add(f"budget.{name}", message))
    return planned


_RULE_KINDS = frozenset({"blacklist", "whitelist"})
_RULE_MATCHES = frozenset({"sku", "category"})
_ONE = Decimal(1)
_PLAIN_DECIMALS = {digits: re.compile(rf"[0-9]{{1,{digits}}}(?:\.[0-9]{{1,4}})?") for digits in (8, 14)}


@functools.lru_cache(maxsize=4096)
def _plain_decimal(text: str, whole_digits: int) -> Decimal | None:
    """A plain decimal with at most `whole_digits` digits before the point and 4 after it (finite,
    within the column); remembered, since an export repeats a few values across 100,000 rules."""
    return Decimal(text) if _PLAIN_DECIMALS[whole_digits].fullmatch(text) else None


def _fast_rule(rule: dict[str, Any]) -> ItemRuleSpec | None:
    """An exported rule as it is (codes, plain decimal strings) → its spec; None if anything is unusual.

    The import's hot path (100 rules × 1,000 campaigns): `clean_rule` accepts labels, any case and
    decimal commas, and explains every problem; an export needs none of that. Whatever this does not
    accept goes to `clean_rule`, so the result (and every message) is the same.
    """
    kind, match, value = rule.get("kind"), rule.get("match"), rule.get("value")
    if kind not in _RULE_KINDS or match not in _RULE_MATCHES or not isinstance(value, str):
        return None
    if not value or len(value) > 200 or value != value.strip() or "\x00" in value:
        return None
    raw_multiplier, raw_bonus = rule.get("multiplier", "1"), rule.get("bonus_per_unit", "0")
    if not (isinstance(raw_multiplier, str) and isinstance(raw_bonus, str)):
        return None
    # The columns: multiplier numeric(12, 4), bonus_per_unit numeric(18, 4).
    multiplier, bonus = _plain_decimal(raw_multiplier, 8), _plain_decimal(raw_bonus, 14)
    if multiplier is None or bonus is None or multiplier < _ONE:
        return None
    return ItemRuleSpec(kind=kind, match=match, value=value, multiplier=multiplier, bonus_per_unit=bonus)


def _clean_budget(raw: Any, campaign: Campaign, add) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        add("budget", "A JSON object with kind, limit, period, pause_at_percent.")
        return None
    kind, period, percent = raw.get("kind"), raw.get("period", "total"), raw.get("pause_at_percent", 90)
    try:
        limit = Decimal(str(raw.get("limit")))
    except InvalidOperation:
        limit = None
    if kind not in Budget.Kind.values:
        add("kind", "spend or count.")
    if period not in Budget.Period.values:
        add("period", "total, day, week or month.")
    if limit is None or not limit.is_finite() or limit <= 0 or limit >= Decimal("1e14"):
        add("limit", "A positive amount.")
    if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100:
        add("pause_at_percent", "Between 1 and 100.")
    if kind == Budget.Kind.SPEND and reward_unit(kind=kind, reward=campaign.reward) is None:
        add("kind", "A spend budget needs a numeric reward value.")
    return {"kind": kind, "limit": limit, "period": period, "pause_at_percent": percent}


def _free_name(name: str, taken: set[str]) -> str:
    number = 2
    while True:
        candidate = f"{name[:190]} ({number})"
        if candidate not in taken:
            return candidate
        number += 1


def campaigns_import(
    *, document: Any, actor: str, dry_run: bool = False, on_conflict: str = "error"
) -> ImportResult:
    """Validate the whole document, then create every campaign as a draft in ONE transaction (or none)."""
    if on_conflict not in ("error", "rename"):
        raise ValidationFailed({"on_conflict": ["error or rename."]})
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        raise ValidationFailed({"schema_version": [f"This import reads schema_version {SCHEMA_VERSION}."]})
    raw_campaigns = document.get("campaigns")
    if not isinstance(raw_campaigns, list) or not raw_campaigns or len(raw_campaigns) > MAX_CAMPAIGNS:
        raise ValidationFailed({"campaigns": [f"A non-empty list of at most {MAX_CAMPAIGNS} campaigns."]})
    partners = {p.slug: p for p in Partner.objects.all()}
    segments = {s.name: s for s in Segment.objects.all()}
    errors: dict[str, list[str]] = {}
    planned = [_clean_one(i, raw, partners, segments, errors) for i, raw in enumerate(raw_campaigns)]
    names = [p.campaign.name for p in planned if p is not None]
    taken = set(Campaign.objects.filter(name__in=names).values_list("name", flat=True))
    seen: set[str] = set()
    clashes = []
    every_name: set[str] | None = None  # loaded once, on the first clash to rename
    for index, plan in enumerate(planned):
        if plan is None:
            continue
        name = plan.campaign.name
        if name in taken or name in seen:
            if on_conflict == "rename":
                if every_name is None:
                    every_name = set(Campaign.objects.values_list("name", flat=True)) | seen
                plan.renamed_from, plan.campaign.name = name, _free_name(name, every_name)
                every_name.add(plan.campaign.name)
            else:
                clashes.append(f"campaigns[{index}]: {name!r}")
        seen.add(plan.campaign.name)
        if every_name is not None:
            every_name.add(plan.campaign.name)
    if errors:
        raise ValidationFailed(errors)
    if clashes:
        raise ConflictError(
            "These names are taken (send on_conflict=rename to import them under a new name): "
            + ", ".join(clashes),
            code="name_taken",
        )
    summary = [
        {
            "name": p.campaign.name,
            **({"renamed_from": p.renamed_from} if p.renamed_from else {}),
            "item_rules": len(p.rules),
            "budget": p.budget is not None,
        }
        for p in planned
    ]
    if dry_run:
        return ImportResult(dry_run=True, campaigns=summary)
    _insert(planned, actor=actor)
    return ImportResult(
        dry_run=False, campaigns=[{"id": p.campaign.pk, **s} for p, s in zip(planned, summary, strict=True)]
    )


@transaction.atomic
def _insert(planned: Sequence[_Planned], *, actor: str) -> None:
    now = timezone.now()
    campaigns = [p.campaign for p in planned]
    for campaign in campaigns:
        campaign.created_at = campaign.updated_at = now
    Campaign.objects.bulk_create(campaigns)
    CampaignTransition.objects.bulk_create(
        CampaignTransition(
            campaign=c, from_status="", to_status=Campaign.Status.DRAFT, actor=actor, note="imported"
        )
        for c in campaigns
    )
    _copy_rules(((p.campaign.pk, spec) for p in planned for spec in p.rules), now=now)
    Budget.objects.bulk_create(
        Budget(campaign=p.campaign, **p.budget) for p in planned if p.budget is not None
    )
    audit_record_many(
        actor=actor,
        action="campaign.imported",
        entries=[
            (
                p.campaign,
                {
                    "name": {"before": None, "after": p.campaign.name},
                    "item_rule_count": {"before": None, "after": len(p.rules)},
                    **({"renamed_from": {"before": None, "after": p.renamed_from}} if p.renamed_from else {}),
                },
            )
            for p in planned
        ],
    )


def _copy_rules(rows: Iterable[tuple[int, ItemRuleSpec]], *, now: datetime) -> None:
    columns = "campaign_id, kind, match, value, multiplier, bonus_per_unit, created_at"
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f'COPY "{ItemRule._meta.db_table}" ({columns}) FROM STDIN') as copy,
    ):
        for campaign_id, spec in rows:
            copy.write_row(
                (campaign_id, spec.kind, spec.match, spec.value, spec.multiplier, spec.bonus_per_unit, now)
            )
