"""Every write of the campaigns app: configuration, item rules, CSV import and the lifecycle (SPEC §2, §4).

The admin and the API call these same functions, so they cannot disagree.
Rules enforced here (and by database constraints underneath):

* `version` is bumped (``F("version") + 1``, in the same transaction) by every
  edit of a campaign or of its item rules, so an evaluation can say which
  configuration it used. Lifecycle transitions are not edits and keep it.
* Configuration (campaign fields, item rules) can change while a campaign is
  `draft`, `active` or `paused`; a `completed`, `cancelled` or `archived`
  campaign is history (409 `campaign_not_editable`).
* Lifecycle transitions lock the campaign row (`select_for_update`), so two
  concurrent requests are serialised and exactly one `CampaignTransition`
  row is written per status change.
* Every change writes one `AuditEvent` (core.audit) in the same transaction;
  item-rule events are about the campaign, whose configuration they are
  (docs/adr/0010-audit-events.md).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign, CampaignTransition, ItemRule
from campaigns.rules import ItemRuleSpec
from core.actors import SYSTEM_ACTOR
from core.audit import audit_record, changes_between, model_update, values_of
from core.db import violated_constraint
from core.exceptions import ApplicationError, ConflictError, NotFoundError, ValidationFailed, validate_model
from core.money import ISO_4217_MINOR_UNITS, is_iso_4217
from core.templating import validate_notification_templates
from customers.definitions import parse_definition
from customers.models import Segment
from partners.models import Partner

logger = logging.getLogger(__name__)

Status = Campaign.Status

EDITABLE_STATUSES = frozenset({Status.DRAFT, Status.ACTIVE, Status.PAUSED})

# The fields a CRM person edits (API and admin); id/status/version/timestamps are the platform's.
EDITABLE_FIELDS = (
    "name",
    "kind",
    "starts_at",
    "ends_at",
    "purchase_channels",
    "currency",
    "min_purchase_value",
    "partner",
    "reward",
    "notification",
    "segment",
    "eligibility",
)

REWARD_TYPES = ("voucher", "special_offer")
REWARD_VALUE_MAX_LENGTH = 100
REWARD_DESCRIPTION_MAX_LENGTH = 500
NOTIFICATION_TITLE_MAX_LENGTH = 200
NOTIFICATION_BODY_MAX_LENGTH = 2000

NAME_TAKEN_MESSAGE = "A campaign with this name already exists."


# --------------------------------------------------------------------------- validation


def validate_reward(reward: Any) -> dict[str, str]:
    """`{"type": "voucher"|"special_offer", "value", "description"?}` → the normalised dict.

    `{}` (not configured yet) is allowed. `value` is kept as a string: a voucher's
    amount ("10.00") or an offer's wording ("2 for 1").
    """
    if reward is None or reward == {}:
        return {}
    if not isinstance(reward, dict):
        raise ValidationFailed({"reward": ["Must be an object with type, value and description."]})
    errors: list[str] = []
    unknown = sorted(set(reward) - {"type", "value", "description"})
    if unknown:
        errors.append(f"Unknown keys: {', '.join(unknown)}.")
    reward_type = reward.get("type")
    if reward_type not in REWARD_TYPES:
        errors.append(f"type must be one of {', '.join(REWARD_TYPES)}.")
    value = reward.get("value")
    if (
        isinstance(value, bool)
        or not isinstance(value, str | int | float | Decimal)
        or str(value).strip() == ""
    ):
        errors.append("value is required (a string or a number).")
    elif len(str(value)) > REWARD_VALUE_MAX_LENGTH:
        errors.append(f"value is longer than {REWARD_VALUE_MAX_LENGTH} characters.")
    description = reward.get("description", "")
    if not isinstance(description, str):
        errors.append("description must be a string.")
    elif len(description) > REWARD_DESCRIPTION_MAX_LENGTH:
        errors.append(f"description is longer than {REWARD_DESCRIPTION_MAX_LENGTH} characters.")
    if errors:
        raise ValidationFailed({"reward": errors})
    return {"type": reward_type, "value": str(value).strip(), "description": description}


def validate_notification(notification: Any) -> dict[str, str]:
    """`{"title", "body"}` push templates (strings). `{}` (none yet) is allowed.

    Only the shape and length are checked here; `campaign_validate` then
    compiles them in the sandbox (core.templating).
    """
    if notification is None or notification == {}:
        return {}
    if not isinstance(notification, dict):
        raise ValidationFailed({"notification": ["Must be an object with title and body."]})
    errors: list[str] = []
    unknown = sorted(set(notification) - {"title", "body"})
    if unknown:
        errors.append(f"Unknown keys: {', '.join(unknown)}.")
    for key, limit in (("title", NOTIFICATION_TITLE_MAX_LENGTH), ("body", NOTIFICATION_BODY_MAX_LENGTH)):
        text = notification.get(key)
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{key} is required (a non-empty string).")
        elif len(text) > limit:
            errors.append(f"{key} is longer than {limit} characters.")
    if errors:
        raise ValidationFailed({"notification": errors})
    return {"title": notification["title"], "body": notification["body"]}


def campaign_validate(campaign: Campaign) -> None:
    """Every rule of a campaign's configuration; raises ValidationError keyed by field.

    Public so that the admin form reports the same errors as the API, field by field.
    Normalises `reward`, `notification` and `purchase_channels` in place.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not is_iso_4217(campaign.currency or ""):
        add("currency", f"{campaign.currency!r} is not an ISO 4217 currency code (upper case, e.g. EUR).")
    elif campaign.min_purchase_value is not None:
        minor_units = ISO_4217_MINOR_UNITS[campaign.currency]
        exponent = Decimal(campaign.min_purchase_value).normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > minor_units:
            add(
                "min_purchase_value",
                f"{campaign.currency} has {minor_units} decimal place(s); "
                f"{campaign.min_purchase_value} has more.",
            )
    channels = campaign.purchase_channels
    if isinstance(channels, list | tuple):
        # Order-preserving de-duplication: ["in_store", "in_store"] means ["in_store"].
        campaign.purchase_channels = list(dict.fromkeys(channels))
    if campaign.status != Status.DRAFT and campaign.partner_id is None:
        add("partner", "An active or paused campaign needs a partner.")
    for validate, field in ((validate_reward, "reward"), (validate_notification, "notification")):
        try:
            setattr(campaign, field, validate(getattr(campaign, field)))
        except DjangoValidationError as exc:
            for message in exc.message_dict.get(field, exc.messages):
                add(field, message)
    if "notification" not in errors:
        # The sandboxed template engine must compile them: a syntax error is a 400, never a failed send.
        try:
            validate_notification_templates(campaign.notification)
        except DjangoValidationError as exc:
            for message in exc.message_dict.get("notification", exc.messages):
                add("notification", message)

    if campaign.eligibility in ({}, []):
        campaign.eligibility = None
    if campaign.eligibility is not None:
        try:
            parse_definition(campaign.eligibility, purchase=True, field="eligibility")
        except ValidationFailed as exc:
            for message in exc.message_dict["eligibility"]:
                add("eligibility", message)
    try:
        campaign.full_clean(exclude=["version", "status"])
    except DjangoValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                if field == NON_FIELD_ERRORS and "ends_after_start" in message:
                    add("ends_at", "ends_at must be after starts_at.")
                elif field == "name" and "already exists" in message:
                    add("name", NAME_TAKEN_MESSAGE)
                elif message not in errors.get(field, []):
                    add(field, message)
    if errors:
        raise ValidationFailed(errors)


def _save_campaign(campaign: Campaign, **save_kwargs: Any) -> None:
    """Save; a name taken by a concurrent request (unique index) is a 400 on `name`, not a 500."""
    try:
        with transaction.atomic():
            campaign.save(**save_kwargs)
    except IntegrityError as exc:
        if violated_constraint(exc) == Campaign.NAME_UNIQUE_CONSTRAINT:
            raise ValidationFailed({"name": [NAME_TAKEN_MESSAGE]}) from exc
        raise


def _lock_campaign(campaign_id: int) -> Campaign:
    try:
        return Campaign.objects.select_for_update().get(pk=campaign_id)
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"Campaign {campaign_id} does not exist.") from None


def _ensure_editable(campaign: Campaign) -> None:
    if campaign.status not in EDITABLE_STATUSES:
        raise ConflictError(
            f"Campaign {campaign.pk} is {campaign.status}: its configuration and item rules can no longer "
            "change (only draft, active and paused campaigns can be edited).",
            code="campaign_not_editable",
        )


def _bump_version(campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(version=F("version") + 1, updated_at=timezone.now())
    campaign.refresh_from_db(fields=["version", "updated_at"])


def _write_transition(
    *, campaign: Campaign, from_status: str, to_status: str, actor: str, note: str = ""
) -> None:
    CampaignTransition.objects.create(
        campaign=campaign, from_status=from_status, to_status=to_status, actor=actor, note=note
    )


def _version_change(before: int, campaign: Campaign) -> dict[str, dict[str, int]]:
    return {"version": {"before": before, "after": campaign.version}}


# --------------------------------------------------------------------------- campaigns

# What a creation, duplication or deletion records: the configuration, its status and version.
AUDITED_FIELDS = (*EDITABLE_FIELDS, "status", "version")


def _insert_campaign(*, actor: str, note: str, **fields: Any) -> Campaign:
    campaign = Campaign(status=Status.DRAFT, **fields)
    campaign_validate(campaign)
    _save_campaign(campaign)
    _write_transition(campaign=campaign, from_status="", to_status=Status.DRAFT, actor=actor, note=note)
    return campaign


@transaction.atomic
def campaign_create(
    *,
    actor: str,
    name: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    purchase_channels: list[str],
    currency: str,
    min_purchase_value: Decimal = Decimal(0),
    partner: Partner | None = None,
    reward: dict[str, Any] | None = None,
    notification: dict[str, Any] | None = None,
    segment: Segment | None = None,
    eligibility: dict[str, Any] | None = None,
) -> Campaign:
    """A new `draft` campaign (version 1); the audit trail records who created it."""
    campaign = _insert_campaign(
        actor=actor,
        note="created",
        name=name,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        purchase_channels=list(purchase_channels or []),
        currency=currency,
        min_purchase_value=min_purchase_value,
        partner=partner,
        reward=reward or {},
        notification=notification or {},
        segment=segment,
        eligibility=eligibility,
    )
    audit_record(
        actor=actor,
        action="campaign.created",
        obj_or_type=campaign,
        changes=changes_between(None, values_of(campaign, AUDITED_FIELDS)),
    )
    logger.info("campaign created", extra={"campaign_id": campaign.pk, "actor": actor})
    return campaign


@transaction.atomic
def campaign_update(*, campaign_id: int, actor: str, data: dict[str, Any]) -> Campaign:
    """Change configuration fields (any of `EDITABLE_FIELDS`); bumps `version` when something changed.

    Keys outside `EDITABLE_FIELDS` (id, status, version, ...) are ignored: the
    lifecycle has its own services and the version is the platform's.
    """
    campaign = _lock_campaign(campaign_id)
    _ensure_editable(campaign)
    changes = model_update(campaign, data, fields=EDITABLE_FIELDS, clean=campaign_validate)
    if not changes:
        return campaign
    old_version = campaign.version
    campaign.version = F("version") + 1
    _save_campaign(campaign, update_fields=[*changes, "version", "updated_at"])
    campaign.refresh_from_db()
    audit_record(
        actor=actor,
        action="campaign.updated",
        obj_or_type=campaign,
        changes={**changes, **_version_change(old_version, campaign)},
    )
    logger.info(
        "campaign updated",
        extra={
            "campaign_id": campaign.pk,
            "actor": actor,
            "fields": list(changes),
            "version": campaign.version,
        },
    )
    return campaign


@transaction.atomic
def campaign_delete(*, campaign_id: int, actor: str) -> None:
    """Delete a draft (never evaluated, never sent); anything else is history: 409."""
    campaign = _lock_campaign(campaign_id)
    if campaign.status != Status.DRAFT:
        raise ConflictError(
            f"Only draft campaigns can be deleted; campaign {campaign.pk} is {campaign.status} "
            "(cancel it instead).",
            code="campaign_not_draft",
        )
    deleted, deleted_id = values_of(campaign, AUDITED_FIELDS), campaign.pk
    campaign.delete()
    audit_record(
        actor=actor,
        action="campaign.deleted",
        obj_or_type=Campaign,
        object_id=deleted_id,
        changes=changes_between(deleted, None),
    )
    logger.info("campaign deleted", extra={"campaign_id": campaign_id, "actor": actor})


def _copy_name(name: str) -> str:
    """`"X (copy)"`, else `"X (copy 2)"`, `"X (copy 3)"`… — the first free one, within 200 characters."""
    max_length = Campaign._meta.get_field("name").max_length
    base = name[: max_length - len(" (copy 9999)")]
    taken = set(Campaign.objects.filter(name__startswith=f"{base} (copy").values_list("name", flat=True))
    candidate = f"{base} (copy)"
    number = 2
    while candidate in taken:
        candidate = f"{base} (copy {number})"
        number += 1
    return candidate


@transaction.atomic
def campaign_duplicate(*, campaign_id: int, actor: str) -> Campaign:
    """A new `draft` with the same configuration and item rules, named "<name> (copy)" (unique)."""
    try:
        source = Campaign.objects.get(pk=campaign_id)
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"Campaign {campaign_id} does not exist.") from None
    for _attempt in range(5):  # a concurrent duplicate may take the same "(copy N)" name
        try:
            with transaction.atomic():
                copy = _insert_campaign(
                    actor=actor,
                    note=f"duplicated from campaign {source.pk}",
                    name=_copy_name(source.name),
                    kind=source.kind,
                    starts_at=source.starts_at,
                    ends_at=source.ends_at,
                    purchase_channels=list(source.purchase_channels),
                    currency=source.currency,
                    min_purchase_value=source.min_purchase_value,
                    partner=source.partner,
                    reward=dict(source.reward),
                    notification=dict(source.notification),
                    segment=source.segment,
                    eligibility=source.eligibility,
                )
            break
        except DjangoValidationError as exc:
            if "name" not in getattr(exc, "error_dict", {}):
                raise
    else:
        raise ConflictError(
            "Could not find a free name for the copy; try again.", code="duplicate_name_taken"
        )
    rules = ItemRule.objects.bulk_create(
        [
            ItemRule(
                campaign=copy,
                kind=rule.kind,
                match=rule.match,
                value=rule.value,
                multiplier=rule.multiplier,
                bonus_per_unit=rule.bonus_per_unit,
            )
            for rule in source.item_rules.all()
        ],
        batch_size=2000,
    )
    audit_record(
        actor=actor,
        action="campaign.duplicated",
        obj_or_type=copy,
        changes=changes_between(
            None,
            {
                **values_of(copy, AUDITED_FIELDS),
                "duplicated_from": source.pk,
                "item_rule_count": len(rules),
            },
        ),
    )
    logger.info("campaign duplicated", extra={"campaign_id": copy.pk, "source_id": source.pk, "actor": actor})
    return copy


# --------------------------------------------------------------------------- lifecycle (SPEC §4)

# action → (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "activate": (frozenset({Status.DRAFT}), Status.ACTIVE),
    "pause": (frozenset({Status.ACTIVE}), Status.PAUSED),
    "resume": (frozenset({Status.PAUSED}), Status.ACTIVE),
    "complete": (frozenset({Status.ACTIVE, Status.PAUSED}), Status.COMPLETED),
    "cancel": (frozenset({Status.DRAFT, Status.ACTIVE, Status.PAUSED}), Status.CANCELLED),
    "archive": (frozenset({Status.COMPLETED}), Status.ARCHIVED),
}
# action → its audit action
TRANSITION_AUDIT_ACTIONS = {
    "activate": "campaign.activated",
    "pause": "campaign.paused",
    "resume": "campaign.resumed",
    "complete": "campaign.completed",
    "cancel": "campaign.cancelled",
    "archive": "campaign.archived",
}


def _transition(
    *, campaign_id: int, action: str, actor: str, note: str = "", now: datetime | None = None
) -> Campaign:
    now = now or timezone.now()
    campaign = _lock_campaign(campaign_id)
    allowed_from, target = TRANSITIONS[action]
    if campaign.status not in allowed_from:
        raise ConflictError(
            f"Cannot {action} campaign {campaign.pk}: it is {campaign.status}; "
            f"{action} is allowed only from {' or '.join(sorted(allowed_from))}.",
            code="invalid_transition",
        )
    if action == "activate":
        if campaign.partner_id is None:
            raise ConflictError(
                f"Cannot activate campaign {campaign.pk}: it has no partner.", code="partner_required"
            )
        if not Partner.objects.filter(pk=campaign.partner_id, is_active=True).exists():
            raise ConflictError(
                f"Cannot activate campaign {campaign.pk}: its partner is inactive.", code="partner_inactive"
            )
    if action in ("activate", "resume") and campaign.ends_at <= now:
        raise ConflictError(
            f"Cannot {action} campaign {campaign.pk}: it ended at {campaign.ends_at.isoformat()}.",
            code="campaign_ended",
        )
    from_status = campaign.status
    changes = model_update(
        campaign, {"status": target, **({"completed_at": now} if target == Status.COMPLETED else {})}
    )
    campaign.save(update_fields=[*changes, "updated_at"])
    _write_transition(campaign=campaign, from_status=from_status, to_status=target, actor=actor, note=note)
    audit_record(actor=actor, action=TRANSITION_AUDIT_ACTIONS[action], obj_or_type=campaign, changes=changes)
    logger.info(
        "campaign transition",
        extra={"campaign_id": campaign.pk, "from": from_status, "to": target, "actor": actor},
    )
    return campaign


@transaction.atomic
def campaign_activate(*, campaign_id: int, actor: str, note: str = "") -> Campaign:
    """draft → active: needs an active partner and `ends_at` in the future."""
    return _transition(campaign_id=campaign_id, action="activate", actor=actor, note=note)


@transaction.atomic
def campaign_pause(*, campaign_id: int, actor: str, note: str = "") -> Campaign:
    """active → paused (purchases are still evaluated, with reason `campaign_not_active`)."""
    return _transition(campaign_id=campaign_id, action="pause", actor=actor, note=note)


@transaction.atomic
def campaign_resume(*, campaign_id: int, actor: str, note: str = "") -> Campaign:
    """paused → active, only before `ends_at`."""
    return _transition(campaign_id=campaign_id, action="resume", actor=actor, note=note)


@transaction.atomic
def campaign_complete(
    *, campaign_id: int, actor: str, note: str = "", now: datetime | None = None
) -> Campaign:
    """active|paused → completed; `completed_at` starts the late-purchase grace period."""
    return _transition(campaign_id=campaign_id, action="complete", actor=actor, note=note, now=now)


@transaction.atomic
def campaign_cancel(*, campaign_id: int, actor: str, note: str = "") -> Campaign:
    """draft|active|paused → cancelled (never evaluated again)."""
    return _transition(campaign_id=campaign_id, action="cancel", actor=actor, note=note)


@transaction.atomic
def campaign_mark_archived(*, campaign_id: int, actor: str, note: str = "") -> Campaign:
    """completed → archived: for the archive job only, once its rows are safely written and verified."""
    return _transition(campaign_id=campaign_id, action="archive", actor=actor, note=note)


LIFECYCLE_ACTIONS = {
    "activate": campaign_activate,
    "pause": campaign_pause,
    "resume": campaign_resume,
    "complete": campaign_complete,
    "cancel": campaign_cancel,
}


def campaigns_complete_expired(*, now: datetime | None = None) -> int:
    """Complete every active or paused campaign whose `ends_at` has passed (beat, every minute).

    Each campaign is its own transaction: one that a person completed or
    cancelled in the meantime is skipped, and never blocks the others.
    """
    now = now or timezone.now()
    due = Campaign.objects.filter(status__in=[Status.ACTIVE, Status.PAUSED], ends_at__lte=now)
    completed = 0
    for campaign_id in due.order_by("ends_at").values_list("id", flat=True):
        try:
            campaign_complete(campaign_id=campaign_id, actor=SYSTEM_ACTOR, note="ends_at passed", now=now)
        except (ConflictError, NotFoundError):
            continue  # changed (or deleted) since the query: nothing to do
        completed += 1
    return completed


# --------------------------------------------------------------------------- item rules

RULE_VALUE_MAX_LENGTH = ItemRule._meta.get_field("value").max_length
# Computed once: `TextChoices.values` builds a new list on every access (hot in a 10,000-row import).
RULE_KINDS = tuple(ItemRule.Kind.values)
RULE_MATCHES = tuple(ItemRule.Match.values)
# (max_digits, decimal_places) of the model fields: bad values are a 400, never a database error.
_MULTIPLIER_DIGITS = (12, 4)
_BONUS_DIGITS = (18, 4)


def _decimal_error(value: Decimal, *, minimum: Decimal, digits: tuple[int, int]) -> str | None:
    if not value.is_finite():
        return "must be a finite number."
    if value < minimum:
        return f"must be at least {minimum}."
    max_digits, decimal_places = digits
    exponent = value.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > decimal_places:
        return f"must have at most {decimal_places} decimal places."
    whole_digits = max(value.adjusted() + 1, 0)
    if whole_digits > max_digits - decimal_places:
        return f"must have at most {max_digits - decimal_places} digits before the decimal point."
    return None


def _clean_rule(
    kind: Any, match: Any, value: Any, multiplier: Any, bonus_per_unit: Any
) -> tuple[ItemRuleSpec | None, dict[str, list[str]]]:
    """Validate one rule's raw values; returns (spec, {}) or (None, errors by field)."""
    errors: dict[str, list[str]] = {}
    kind = kind.strip() if isinstance(kind, str) else kind
    match = match.strip() if isinstance(match, str) else match
    if kind not in RULE_KINDS:
        errors["kind"] = [f"must be one of {', '.join(RULE_KINDS)} (got {kind!r})."]
    if match not in RULE_MATCHES:
        errors["match"] = [f"must be one of {', '.join(RULE_MATCHES)} (got {match!r})."]
    value = value.strip() if isinstance(value, str) else value
    if not isinstance(value, str) or not value:
        errors["value"] = ["is required."]
    elif len(value) > RULE_VALUE_MAX_LENGTH:
        errors["value"] = [f"is longer than {RULE_VALUE_MAX_LENGTH} characters."]
    parsed: dict[str, Decimal] = {}
    for field, raw, default, minimum, digits in (
        ("multiplier", multiplier, Decimal(1), Decimal(1), _MULTIPLIER_DIGITS),
        ("bonus_per_unit", bonus_per_unit, Decimal(0), Decimal(0), _BONUS_DIGITS),
    ):
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            parsed[field] = default
            continue
        try:
            number = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            errors[field] = [f"is not a number (got {raw!r})."]
            continue
        problem = _decimal_error(number, minimum=minimum, digits=digits)
        if problem:
            errors[field] = [f"{problem[:1].upper()}{problem[1:]}"]
        else:
            parsed[field] = number
    if errors:
        return None, errors
    return ItemRuleSpec(kind, match, value, parsed["multiplier"], parsed["bonus_per_unit"]), {}


RULE_AUDITED_FIELDS = tuple(ItemRuleSpec.__dataclass_fields__)


def _rule_key(rule_id: int) -> str:
    """The `changes` key of one item rule in its campaign's audit events: `item_rules[12]`."""
    return f"item_rules[{rule_id}]"


def _duplicate_message(spec: ItemRuleSpec) -> str:
    return f"A {spec.kind} rule for {spec.match} {spec.value!r} already exists in this campaign."


@transaction.atomic
def item_rule_add(
    *,
    campaign_id: int,
    actor: str,
    kind: str,
    match: str,
    value: str,
    multiplier: Decimal | str | None = None,
    bonus_per_unit: Decimal | str | None = None,
) -> ItemRule:
    """Add one blacklist/whitelist entry; bumps the campaign's version. Duplicates are a 400 on `value`."""
    campaign = _lock_campaign(campaign_id)
    _ensure_editable(campaign)
    spec, errors = _clean_rule(kind, match, value, multiplier, bonus_per_unit)
    if errors:
        raise ValidationFailed(errors)
    if campaign.item_rules.filter(kind=spec.kind, match=spec.match, value=spec.value).exists():
        raise ValidationFailed({"value": [_duplicate_message(spec)]})
    rule = ItemRule(
        campaign=campaign,
        kind=spec.kind,
        match=spec.match,
        value=spec.value,
        multiplier=spec.multiplier,
        bonus_per_unit=spec.bonus_per_unit,
    )
    validate_model(rule, validate_unique=False)
    rule.save()
    old_version = campaign.version
    _bump_version(campaign)
    audit_record(
        actor=actor,
        action="item_rule.added",
        obj_or_type=campaign,
        changes={
            **changes_between(None, {_rule_key(rule.pk): values_of(rule, RULE_AUDITED_FIELDS)}),
            **_version_change(old_version, campaign),
        },
    )
    logger.info("item rule added", extra={"campaign_id": campaign.pk, "rule_id": rule.pk, "actor": actor})
    return rule


@transaction.atomic
def item_rule_update(*, campaign_id: int, rule_id: int, actor: str, data: dict[str, Any]) -> ItemRule:
    """Change an entry (the admin's inline edits); bumps the campaign's version when something changed."""
    campaign = _lock_campaign(campaign_id)
    _ensure_editable(campaign)
    rule = _get_rule(campaign, rule_id)
    merged = {field: data.get(field, getattr(rule, field)) for field in ItemRuleSpec.__dataclass_fields__}
    spec, errors = _clean_rule(**merged)
    if errors:
        raise ValidationFailed(errors)
    if (
        campaign.item_rules.filter(kind=spec.kind, match=spec.match, value=spec.value)
        .exclude(pk=rule.pk)
        .exists()
    ):
        raise ValidationFailed({"value": [_duplicate_message(spec)]})
    changes = model_update(rule, {field: getattr(spec, field) for field in merged})
    if not changes:
        return rule
    rule.save(update_fields=list(changes))
    old_version = campaign.version
    _bump_version(campaign)
    audit_record(
        actor=actor,
        action="item_rule.updated",
        obj_or_type=campaign,
        changes={
            **{f"{_rule_key(rule.pk)}.{field}": change for field, change in changes.items()},
            **_version_change(old_version, campaign),
        },
    )
    return rule


def _get_rule(campaign: Campaign, rule_id: int) -> ItemRule:
    try:
        return campaign.item_rules.get(pk=rule_id)
    except (ItemRule.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"Item rule {rule_id} does not exist in campaign {campaign.pk}.") from None


@transaction.atomic
def item_rule_remove(*, campaign_id: int, rule_id: int, actor: str) -> None:
    """Remove one entry; bumps the campaign's version."""
    campaign = _lock_campaign(campaign_id)
    _ensure_editable(campaign)
    rule = _get_rule(campaign, rule_id)
    removed = {_rule_key(rule.pk): values_of(rule, RULE_AUDITED_FIELDS)}
    rule.delete()
    old_version = campaign.version
    _bump_version(campaign)
    audit_record(
        actor=actor,
        action="item_rule.removed",
        obj_or_type=campaign,
        changes={**changes_between(removed, None), **_version_change(old_version, campaign)},
    )
    logger.info("item rule removed", extra={"campaign_id": campaign.pk, "rule_id": rule_id, "actor": actor})


# --------------------------------------------------------------------------- CSV import

CSV_COLUMNS = ("kind", "match", "value", "multiplier", "bonus_per_unit")
CSV_REQUIRED_COLUMNS = ("kind", "match", "value")
CSV_MAX_ROWS = 100_000


class CsvImportError(ApplicationError):
    """The file as a whole, or some of its rows, are not valid: nothing was imported (400)."""

    default_code = "invalid_csv"


@dataclass(frozen=True)
class CsvImportResult:
    imported: int
    campaign: Campaign


def _decode_csv(content: bytes | str) -> str:
    if isinstance(content, str):
        return content.lstrip("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvImportError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be decoded).",
            fields={"file": ["Not UTF-8."]},
        ) from None


def parse_item_rules_csv(content: bytes | str) -> list[tuple[int, ItemRuleSpec]]:
    """Parse and validate every row; returns (line number, rule) pairs or raises CsvImportError.

    The header line `kind,match,value,multiplier,bonus_per_unit` is optional; with
    a header the columns may come in any order and the last two may be left out.
    Without one they are positional. Empty lines are skipped. Every bad row is
    reported, by its line number in the file, under `fields.rows`.
    """
    text = _decode_csv(content)
    reader = csv.reader(io.StringIO(text, newline=""))
    positions = {name: index for index, name in enumerate(CSV_COLUMNS)}
    row_errors: dict[str, dict[str, list[str]]] = {}
    rules: list[tuple[int, ItemRuleSpec]] = []
    first_line_of: dict[tuple[str, str, str], int] = {}
    header_seen = False
    line = 0
    try:
        for row in reader:
            line_start = line + 1
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if not header_seen and not rules and not row_errors:
                header_seen = True
                names = [cell.strip().lower() for cell in row]
                if set(names) & set(CSV_REQUIRED_COLUMNS) and set(names) <= set(CSV_COLUMNS):
                    missing = [name for name in CSV_REQUIRED_COLUMNS if name not in names]
                    if missing or len(set(names)) != len(names):
                        raise CsvImportError(
                            "The header must name kind, match and value once each "
                            f"(columns: {','.join(CSV_COLUMNS)}).",
                            fields={"header": [f"Got {','.join(names)}."]},
                        )
                    positions = {name: index for index, name in enumerate(names)}
                    continue
            if len(rules) + len(row_errors) >= CSV_MAX_ROWS:
                raise CsvImportError(
                    f"The file has more than {CSV_MAX_ROWS} rows.", fields={"file": ["Too many rows."]}
                )
            if len(row) > len(positions):
                row_errors[str(line_start)] = {
                    "row": [
                        f"Expected at most {len(positions)} columns ({','.join(positions)}), got {len(row)}."
                    ]
                }
                continue
            cells = {name: (row[index] if index < len(row) else None) for name, index in positions.items()}
            spec, errors = _clean_rule(
                cells.get("kind"),
                cells.get("match"),
                cells.get("value"),
                cells.get("multiplier"),
                cells.get("bonus_per_unit"),
            )
            if errors:
                row_errors[str(line_start)] = errors
                continue
            earlier = first_line_of.get(spec.key)
            if earlier is not None:
                row_errors[str(line_start)] = {
                    "value": [f"Duplicate of line {earlier} ({spec.kind} {spec.match} {spec.value!r})."]
                }
                continue
            first_line_of[spec.key] = line_start
            rules.append((line_start, spec))
    except csv.Error as exc:
        raise CsvImportError(
            f"The file is not valid CSV near line {reader.line_num}: {exc}.",
            fields={"rows": {str(reader.line_num): {"row": [str(exc)]}}},
        ) from None
    if row_errors:
        raise CsvImportError(
            f"{len(row_errors)} row(s) are not valid; nothing was imported.", fields={"rows": row_errors}
        )
    if not rules:
        raise CsvImportError("The file has no rows to import.", fields={"file": ["No rows."]})
    return rules


@transaction.atomic
def item_rules_import_csv(*, campaign_id: int, actor: str, content: bytes | str) -> CsvImportResult:
    """Import a CSV of item rules: all rows or none; bumps the version once.

    A row that repeats another row of the file, or a rule the campaign already
    has, is an error of that row.
    """
    rules = parse_item_rules_csv(content)
    campaign = _lock_campaign(campaign_id)
    _ensure_editable(campaign)
    existing = set(campaign.item_rules.values_list("kind", "match", "value"))
    count_before = len(existing)
    clashes = {
        str(line): {"value": [_duplicate_message(spec)]} for line, spec in rules if spec.key in existing
    }
    if clashes:
        raise CsvImportError(
            f"{len(clashes)} row(s) repeat rules the campaign already has; nothing was imported.",
            fields={"rows": clashes},
        )
    _copy_rules(campaign, (spec for _, spec in rules))
    old_version = campaign.version
    _bump_version(campaign)
    audit_record(
        actor=actor,
        action="item_rules.imported",
        obj_or_type=campaign,
        changes={
            "item_rule_count": {"before": count_before, "after": count_before + len(rules)},
            **_version_change(old_version, campaign),
        },
    )
    logger.info("item rules imported", extra={"campaign_id": campaign.pk, "rows": len(rules), "actor": actor})
    return CsvImportResult(imported=len(rules), campaign=campaign)


def _copy_rules(campaign: Campaign, specs: Iterable[ItemRuleSpec]) -> None:
    """Insert validated rules with PostgreSQL COPY (≈10× bulk_create; the import's hot spot).

    The table name is unqualified: the connection's search_path is the brand's schema.
    Constraints (unique triple, multiplier ≥ 1, bonus ≥ 0) still hold: COPY checks them.
    """
    columns = ["campaign_id", "kind", "match", "value", "multiplier", "bonus_per_unit", "created_at"]
    now = timezone.now()
    with connection.cursor() as cursor:
        statement = f'COPY "{ItemRule._meta.db_table}" ({", ".join(columns)}) FROM STDIN'
        with cursor.cursor.copy(statement) as copy:
            for spec in specs:
                copy.write_row(
                    (
                        campaign.pk,
                        spec.kind,
                        spec.match,
                        spec.value,
                        spec.multiplier,
                        spec.bonus_per_unit,
                        now,
                    )
                )
