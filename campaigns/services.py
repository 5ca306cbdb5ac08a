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

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.budget_units import reward_unit
from campaigns.item_rules_csv import (
    CsvImportError,
    ImportPlan,
    clean_rule,
    duplicate_message,
    parse_item_rules_csv,
    plan_import,
)
from campaigns.models import Budget, Campaign, CampaignTransition, ItemRule
from campaigns.rules import ItemRuleSpec
from campaigns.selectors import item_rule_specs
from core.actors import SYSTEM_ACTOR
from core.audit import audit_record, changes_between, model_update, values_of
from core.db import errors_by_field, violated_constraint
from core.exceptions import ApplicationError, ConflictError, NotFoundError, ValidationFailed, validate_model
from core.models import AuditEvent
from core.money import ISO_4217_MINOR_UNITS, is_iso_4217
from core.templating import validate_notification_templates
from customers.definitions import parse_definition
from customers.models import Segment
from outbox import events
from partners.models import Partner
from tenants.work_due import work_due_at

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
    "attribution_window_hours",
    "reward",
    "notification",
    "segment",
    "eligibility",
    "max_rewards_per_customer",
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


def campaign_validate(campaign: Campaign, *, check_unique: bool = True) -> None:
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
    checked = set(errors)
    try:
        if check_unique:
            campaign.full_clean(exclude=["version", "status"])
        else:
            # The import checks names for the whole file in one query, resolved partner and segment
            # itself and checks the two value constraints below in Python: no query per campaign here
            # (Django validates each CheckConstraint with a SELECT). The database still checks all.
            campaign.full_clean(
                exclude=["version", "status", "partner", "segment"],
                validate_unique=False,
                validate_constraints=False,
            )
            if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
                add("ends_at", "End must be after the start.")
            if campaign.min_purchase_value is not None and campaign.min_purchase_value < 0:
                add("min_purchase_value", "Minimum purchase value cannot be negative.")
    except DjangoValidationError as exc:
        # Constraint messages land on their field; a field the checks above already reported keeps
        # that one message (one human message per error, never the constraint behind it too).
        for field, messages in errors_by_field(Campaign, exc).items():
            if field in checked:
                continue
            for message in messages:
                add(field, NAME_TAKEN_MESSAGE if field == "name" and "already exists" in message else message)
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
    item_rules: Sequence[ItemRuleSpec] = (),
    segment: Segment | None = None,
    eligibility: dict[str, Any] | None = None,
    attribution_window_hours: int = 72,
    max_rewards_per_customer: int | None = None,
) -> Campaign:
    """A new `draft` campaign (version 1), with its first item rules when given (the admin's add page
    saves both at once: they are one configuration, so still version 1)."""
    rules = _clean_new_rules(item_rules)
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
        attribution_window_hours=attribution_window_hours,
        max_rewards_per_customer=max_rewards_per_customer,
    )
    if rules:
        _copy_rules(campaign, rules)
    created = values_of(campaign, AUDITED_FIELDS)
    if rules:
        created["item_rule_count"] = len(rules)
    audit_record(
        actor=actor,
        action="campaign.created",
        obj_or_type=campaign,
        changes=changes_between(None, created),
    )
    logger.info("campaign created", extra={"campaign_id": campaign.pk, "actor": actor})
    return campaign


@dataclass(frozen=True)
class ItemRuleEdits:
    """Item rule edits saved together with a campaign's fields (the admin's inline rows)."""

    added: Sequence[ItemRuleSpec] = ()
    changed: Mapping[int, Mapping[str, Any]] = dataclasses.field(default_factory=dict)  # rule id → new values
    removed: Sequence[int] = ()


@transaction.atomic
def campaign_update(
    *, campaign_id: int, actor: str, data: dict[str, Any], item_rules: ItemRuleEdits | None = None
) -> Campaign:
    """Change configuration fields (any of `EDITABLE_FIELDS`) and, optionally, item rules in the same
    save; bumps `version` once when something changed, and not at all when nothing did.

    Keys outside `EDITABLE_FIELDS` (id, status, version, ...) are ignored: the
    lifecycle has its own services and the version is the platform's.
    """
    campaign = _lock_campaign(campaign_id)
    _ensure_editable(campaign)
    changes = model_update(campaign, data, fields=EDITABLE_FIELDS, clean=campaign_validate)
    if item_rules is not None:
        changes.update(_edit_rules(campaign, item_rules))
    if not changes:
        return campaign
    old_version = campaign.version
    campaign.version = F("version") + 1
    fields = [name for name in changes if name in EDITABLE_FIELDS]
    _save_campaign(campaign, update_fields=[*fields, "version", "updated_at"])
    campaign.refresh_from_db()
    if "ends_at" in changes:
        _closing_due(campaign)
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
                    max_rewards_per_customer=source.max_rewards_per_customer,
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
    # SPEC §13: activation of a campaign whose budget is above the brand's approval threshold stops here
    # until a second person approves it.
    "request_approval": (frozenset({Status.DRAFT}), Status.PENDING_APPROVAL),
    "approve": (frozenset({Status.PENDING_APPROVAL}), Status.ACTIVE),
    "pause": (frozenset({Status.ACTIVE}), Status.PAUSED),
    "resume": (frozenset({Status.PAUSED}), Status.ACTIVE),
    "complete": (frozenset({Status.ACTIVE, Status.PAUSED}), Status.COMPLETED),
    "cancel": (
        frozenset({Status.DRAFT, Status.PENDING_APPROVAL, Status.ACTIVE, Status.PAUSED}),
        Status.CANCELLED,
    ),
    "archive": (frozenset({Status.COMPLETED}), Status.ARCHIVED),
}
# action → its audit action
TRANSITION_AUDIT_ACTIONS = {
    "activate": "campaign.activated",
    "request_approval": "campaign.approval_requested",
    "approve": "campaign.approved",
    "pause": "campaign.paused",
    "resume": "campaign.resumed",
    "complete": "campaign.completed",
    "cancel": "campaign.cancelled",
    "archive": "campaign.archived",
}


def _closing_due(campaign: Campaign) -> None:
    """An active or paused campaign is completed at `ends_at`: its brand's maintenance tick is due then."""
    if campaign.status in (Status.ACTIVE, Status.PAUSED):
        ends_at = campaign.ends_at
        transaction.on_commit(lambda: work_due_at(at=ends_at))


def approval_identity(request_user: Any) -> str:
    """Who a person is for the four-eyes rule (ADR 0023): a session user by id, an API key by its own id.

    Not the actor string: two keys may share a name, and a key stands for the system that holds it.
    """
    if getattr(request_user, "role", None) is not None:
        return f"api-key#{request_user.pk}"
    return f"user#{getattr(request_user, 'pk', '')}"


def _transition(
    *,
    campaign_id: int,
    action: str,
    actor: str,
    note: str = "",
    now: datetime | None = None,
    identity: str = "",
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
    if action == "cancel" and not (note or "").strip():
        raise ValidationFailed({"note": ["Say why the campaign is cancelled: a note is required."]})
    if action in ("activate", "request_approval", "approve"):
        if campaign.partner_id is None:
            raise ConflictError(
                f"Cannot activate campaign {campaign.pk}: it has no partner.", code="partner_required"
            )
        if not Partner.objects.filter(pk=campaign.partner_id, is_active=True).exists():
            raise ConflictError(
                f"Cannot activate campaign {campaign.pk}: its partner is inactive.", code="partner_inactive"
            )
    if action in ("activate", "request_approval", "approve", "resume") and campaign.ends_at <= now:
        raise ConflictError(
            f"Cannot {action} campaign {campaign.pk}: it ended at {campaign.ends_at.isoformat()}.",
            code="campaign_ended",
        )
    if action == "approve" and (identity or actor) == campaign.approval_requested_by:
        raise ApplicationError(
            f"Campaign {campaign.pk} waits for a second person's approval: {actor} asked for its activation "
            "and cannot approve it too.",
            code="approver_is_requester",
            status_code=403,
        )
    from_status = campaign.status
    new_values: dict[str, Any] = {"status": target}
    if target == Status.COMPLETED:
        new_values["completed_at"] = now
    if action == "request_approval":
        new_values["approval_requested_by"] = identity or actor
    changes = model_update(campaign, new_values)
    campaign.save(update_fields=[*changes, "updated_at"])
    _write_transition(campaign=campaign, from_status=from_status, to_status=target, actor=actor, note=note)
    _closing_due(campaign)
    audit_record(actor=actor, action=TRANSITION_AUDIT_ACTIONS[action], obj_or_type=campaign, changes=changes)
    events.emit(
        events.EventType.CAMPAIGN_STATUS_CHANGED,
        {
            "campaign_id": campaign.pk,
            "name": campaign.name,
            "from": from_status,
            "to": target,
            "actor": actor,
        },
        occurred_at=now,
    )
    logger.info(
        "campaign transition",
        extra={"campaign_id": campaign.pk, "from": from_status, "to": target, "actor": actor},
    )
    return campaign


def approval_needed(campaign: Campaign) -> bool:
    """SPEC §13: the campaign's budget is above the brand's `approval_threshold` (money).

    A spend budget compares its limit; a count budget its most possible spend (limit × the reward's value;
    a reward without a numeric value compares the count itself). No threshold or no budget: not needed.
    """
    threshold = getattr(getattr(connection, "tenant", None), "approval_threshold", None)
    if threshold is None:
        from tenants.models import Brand

        threshold = (
            Brand.objects.filter(schema_name=connection.schema_name)
            .values_list("approval_threshold", flat=True)
            .first()
        )
    budget = Budget.objects.filter(campaign_id=campaign.pk).first()
    if threshold is None or budget is None:
        return False
    exposure = budget.limit
    if budget.kind == Budget.Kind.COUNT:
        exposure = budget.limit * (reward_unit(kind=Budget.Kind.SPEND, reward=campaign.reward) or Decimal(1))
    return exposure > threshold


@transaction.atomic
def campaign_activate(*, campaign_id: int, actor: str, note: str = "", identity: str = "") -> Campaign:
    """draft → active: needs an active partner and `ends_at` in the future.

    If its budget is above the brand's approval threshold, draft → pending_approval instead (the
    response shows the status); `campaign_approve` by someone else then makes it active.
    """
    campaign = _lock_campaign(campaign_id)
    if campaign.status == Status.DRAFT and approval_needed(campaign):
        return _transition(
            campaign_id=campaign_id, action="request_approval", actor=actor, note=note, identity=identity
        )
    return _transition(campaign_id=campaign_id, action="activate", actor=actor, note=note)


@transaction.atomic
def campaign_approve(*, campaign_id: int, actor: str, note: str = "", identity: str = "") -> Campaign:
    """pending_approval → active, by someone other than who asked (403 `approver_is_requester`).

    `identity` (see `approval_identity`) tells people apart; without it the actor string does.
    """
    return _transition(campaign_id=campaign_id, action="approve", actor=actor, note=note, identity=identity)


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
    """draft|pending_approval|active|paused → cancelled (never evaluated again); needs a note (SPEC §13)."""
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
    "approve": campaign_approve,
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

# Validation of one rule's raw values is shared with the CSV reader (pure: campaigns/item_rules_csv.py).
_clean_rule = clean_rule


RULE_AUDITED_FIELDS = tuple(ItemRuleSpec.__dataclass_fields__)


def _rule_key(rule_id: int) -> str:
    """The `changes` key of one item rule in its campaign's audit events: `item_rules[12]`."""
    return f"item_rules[{rule_id}]"


_duplicate_message = duplicate_message


def _clean_new_rules(specs: Iterable[ItemRuleSpec], existing: set[tuple[str, str, str]] = frozenset()):
    """Validate rules given as specs (admin inline rows); a repeated or existing rule is a 400 on `value`."""
    cleaned: list[ItemRuleSpec] = []
    seen = set(existing)
    for raw in specs:
        spec, errors = _clean_rule(raw.kind, raw.match, raw.value, raw.multiplier, raw.bonus_per_unit)
        if errors:
            raise ValidationFailed(errors)
        if spec.key in seen:
            raise ValidationFailed({"value": [_duplicate_message(spec)]})
        seen.add(spec.key)
        cleaned.append(spec)
    return cleaned


def _edit_rules(campaign: Campaign, edits: ItemRuleEdits) -> dict[str, Any]:
    """Apply item rule edits to a locked campaign; returns their audit changes (no version bump)."""
    changes: dict[str, Any] = {}
    rules = {rule.pk: rule for rule in campaign.item_rules.all()}
    for rule_id in edits.removed:
        rule = rules.pop(int(rule_id), None)
        if rule is None:
            raise NotFoundError(f"Item rule {rule_id} does not exist in campaign {campaign.pk}.")
        changes.update(changes_between({_rule_key(rule.pk): values_of(rule, RULE_AUDITED_FIELDS)}, None))
        rule.delete()
    for rule_id, data in edits.changed.items():
        rule = rules.get(int(rule_id))
        if rule is None:
            raise NotFoundError(f"Item rule {rule_id} does not exist in campaign {campaign.pk}.")
        merged = {name: data.get(name, getattr(rule, name)) for name in ItemRuleSpec.__dataclass_fields__}
        spec, errors = _clean_rule(**merged)
        if errors:
            raise ValidationFailed(errors)
        rule_changes = model_update(rule, {name: getattr(spec, name) for name in merged})
        if rule_changes:
            rule.save(update_fields=list(rule_changes))
            changes.update({f"{_rule_key(rule.pk)}.{name}": change for name, change in rule_changes.items()})
    taken: set[tuple[str, str, str]] = set()
    for rule in rules.values():
        key = (rule.kind, rule.match, rule.value)
        if key in taken:  # an edited row now equals another one
            raise ValidationFailed({"value": [_duplicate_message(ItemRuleSpec(*key))]})
        taken.add(key)
    for spec in _clean_new_rules(edits.added, existing=taken):
        rule = ItemRule.objects.create(
            campaign=campaign,
            kind=spec.kind,
            match=spec.match,
            value=spec.value,
            multiplier=spec.multiplier,
            bonus_per_unit=spec.bonus_per_unit,
        )
        changes.update(changes_between(None, {_rule_key(rule.pk): values_of(rule, RULE_AUDITED_FIELDS)}))
    return changes


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


@dataclass(frozen=True)
class CsvImportResult:
    imported: int
    campaign: Campaign


@transaction.atomic
def item_rules_import_csv(*, campaign_id: int, actor: str, content: bytes | str) -> CsvImportResult:
    """Import a CSV of item rules: all rows or none; bumps the version once.

    A row that repeats another row of the file, or a rule the campaign already
    has, is an error of that row.
    """
    rules = parse_item_rules_csv(content).rules
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


@dataclass(frozen=True)
class CsvApplyResult:
    plan: ImportPlan
    campaign: Campaign


@transaction.atomic
def item_rules_apply_csv(
    *, campaign_id: int, actor: str, content: bytes | str, remove_missing: bool, expected_digest: str
) -> CsvApplyResult:
    """Apply a CSV the person has previewed (`selectors.item_rules_csv_preview`): add its new rules,
    change those whose multiplier or bonus differ, and with `remove_missing` remove the rules the
    file does not list; bumps the version once (not at all when nothing changes).

    The plan is recomputed under the campaign's lock; if it is not the one previewed (someone
    changed the rules in between) nothing is applied: 409 `item_rules_changed_since_preview`.
    """
    parsed = parse_item_rules_csv(content)
    campaign = _lock_campaign(campaign_id)
    _ensure_editable(campaign)
    plan = plan_import(
        item_rule_specs(campaign_id=campaign.pk),
        [spec for _line, spec in parsed.rules],
        remove_missing=remove_missing,
    )
    if plan.digest != expected_digest:
        raise ConflictError(
            "The campaign's item rules changed since the preview; upload the file again to see what it "
            "changes now.",
            code="item_rules_changed_since_preview",
        )
    if plan.is_empty:
        return CsvApplyResult(plan=plan, campaign=campaign)
    count_before = campaign.item_rules.count()
    if plan.removed:
        ItemRule.objects.filter(
            campaign=campaign, pk__in=[rule_id for rule_id, _spec in plan.removed]
        ).delete()
    for change in plan.changed:
        ItemRule.objects.filter(campaign=campaign, pk=change.rule_id).update(
            multiplier=change.after.multiplier, bonus_per_unit=change.after.bonus_per_unit
        )
    _copy_rules(campaign, plan.added)
    old_version = campaign.version
    _bump_version(campaign)
    audit_record(
        actor=actor,
        action="item_rules.imported",
        obj_or_type=campaign,
        changes={
            "item_rule_count": {
                "before": count_before,
                "after": count_before + len(plan.added) - len(plan.removed),
            },
            "item_rules_added": {"before": None, "after": len(plan.added)},
            "item_rules_changed": {"before": None, "after": len(plan.changed)},
            "item_rules_removed": {"before": None, "after": len(plan.removed)},
            **_version_change(old_version, campaign),
        },
    )
    logger.info(
        "item rules applied from csv",
        extra={"campaign_id": campaign.pk, "actor": actor, "added": len(plan.added),
               "changed": len(plan.changed), "removed": len(plan.removed)},
    )  # fmt: skip
    return CsvApplyResult(plan=plan, campaign=campaign)


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


# --------------------------------------------------------------------------- bulk (SPEC §13)

BULK_MAX_IDS = 1000


@dataclass(frozen=True)
class BulkItemResult:
    id: Any
    status: str  # ok | conflict | not_found
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, **({"error": self.error} if self.error else {})}


def _bulk_check(campaign: Campaign, action: str, note: str) -> str | None:
    """Why `action` would fail on `campaign` now (for dry runs), or None."""
    if action == "delete":
        return (
            None
            if campaign.status == Status.DRAFT
            else f"Only draft campaigns can be deleted; it is {campaign.status}."
        )
    allowed_from, _ = TRANSITIONS[action]
    if campaign.status not in allowed_from:
        return f"Cannot {action} campaign {campaign.pk}: it is {campaign.status}."
    if action == "cancel" and not note.strip():
        return "Say why the campaign is cancelled: a note is required."
    return None


def campaigns_bulk(
    *, action: str, ids: Sequence[Any], actor: str, dry_run: bool = False, note: str = "", identity: str = ""
) -> list[BulkItemResult]:
    """Apply one lifecycle action (or delete) to each id, each in its own transaction with its audit row.

    Results in request order: `ok`, `conflict` (the reason in `error`) or `not_found`. A dry run locks
    nothing and changes nothing: it says what would happen now. A repeated id gets its own result.
    """
    if action not in (*LIFECYCLE_ACTIONS, "delete"):
        raise ValidationFailed({"action": [f"Unknown action {action!r}."]})
    if len(ids) > BULK_MAX_IDS:
        raise ValidationFailed({"ids": [f"At most {BULK_MAX_IDS} ids."]})
    known = {c.pk: c for c in Campaign.objects.filter(pk__in=[i for i in ids if isinstance(i, int)])}
    results: list[BulkItemResult] = []
    moved_live = False
    for campaign_id in ids:
        campaign = known.get(campaign_id)
        if campaign is None:
            results.append(
                BulkItemResult(campaign_id, "not_found", f"Campaign {campaign_id} does not exist.")
            )
            continue
        if dry_run:
            problem = _bulk_check(campaign, action, note)
            results.append(BulkItemResult(campaign_id, "conflict" if problem else "ok", problem))
            continue
        if action in _FAST_BULK_ACTIONS:
            outcome = _bulk_transition(action=action, campaign_id=campaign_id, actor=actor, note=note)
            if outcome is None:
                results.append(BulkItemResult(campaign_id, "ok"))
                moved_live |= action in ("pause", "resume")
            else:
                results.append(outcome)
            continue
        try:
            if action == "delete":
                campaign_delete(campaign_id=campaign_id, actor=actor)
            else:
                extra = {"identity": identity} if action == "activate" else {}
                LIFECYCLE_ACTIONS[action](campaign_id=campaign_id, actor=actor, note=note, **extra)
        except NotFoundError as exc:
            results.append(BulkItemResult(campaign_id, "not_found", exc.message))
        except ApplicationError as exc:
            results.append(BulkItemResult(campaign_id, "conflict", exc.message))
        else:
            results.append(BulkItemResult(campaign_id, "ok"))
    if moved_live:
        # What `_closing_due` does per transition, once: the tick completes them at their ends_at.
        first_end = (
            Campaign.objects.filter(pk__in=list(known), status__in=[Status.ACTIVE, Status.PAUSED])
            .order_by("ends_at")
            .values_list("ends_at", flat=True)
            .first()
        )
        if first_end is not None:
            transaction.on_commit(lambda: work_due_at(at=first_end))
    return results


# The lifecycle steps a bulk request does in ONE statement per campaign (its own transaction): lock,
# change the status, write the lifecycle row and the audit row — what `_transition` does in five round
# trips. Activation (partner checks, approval) and delete go through their services.
_FAST_BULK_ACTIONS = frozenset({"pause", "resume", "complete", "cancel"})


def _bulk_transition(*, action: str, campaign_id: int, actor: str, note: str) -> BulkItemResult | None:
    """One lifecycle step as one statement; None when done, else the item's conflict/not-found result."""
    from core.audit import _request_id

    allowed_from, target = TRANSITIONS[action]
    if action == "cancel" and not note.strip():
        return BulkItemResult(
            campaign_id, "conflict", "Say why the campaign is cancelled: a note is required."
        )
    now = timezone.now()
    completing = target == Status.COMPLETED
    params = {
        "id": campaign_id,
        "from": sorted(allowed_from),
        "to": str(target),
        "now": now,
        "actor": actor,
        "note": note,
        "action": TRANSITION_AUDIT_ACTIONS[action],
        "request_id": _request_id(None),
        "ended_check": action == "resume",
        "completed_at": now.isoformat().replace("+00:00", "Z") if completing else None,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH old AS (
                SELECT id, status FROM {Campaign._meta.db_table} WHERE id = %(id)s FOR UPDATE
            ),
            moved AS (
                UPDATE {Campaign._meta.db_table} c SET status = %(to)s, updated_at = %(now)s
                    {", completed_at = %(now)s" if completing else ""}
                FROM old
                WHERE c.id = old.id AND old.status = ANY(%(from)s::text[])
                  AND (NOT %(ended_check)s OR c.ends_at > %(now)s)
                RETURNING c.id, old.status AS from_status
            ),
            transition AS (
                INSERT INTO {CampaignTransition._meta.db_table} (campaign_id, from_status, to_status, actor, note, created_at)
                SELECT id, from_status, %(to)s, %(actor)s, %(note)s, %(now)s FROM moved
            ),
            audit AS (
                INSERT INTO {AuditEvent._meta.db_table} (at, actor, action, object_type, object_id, changes, request_id)
                SELECT %(now)s, %(actor)s, %(action)s, 'campaigns.campaign', id::text,
                       jsonb_build_object('status', jsonb_build_object('before', from_status, 'after', %(to)s))
                       || CASE WHEN %(completed_at)s::text IS NULL THEN '{{}}'::jsonb ELSE jsonb_build_object(
                              'completed_at', jsonb_build_object('before', NULL, 'after', %(completed_at)s::text)) END,
                       %(request_id)s
                FROM moved
            )
            SELECT (SELECT count(*) FROM moved), (SELECT status FROM old)
            """,  # noqa: S608
            params,
        )
        moved, status = cursor.fetchone()
    if moved:
        return None
    if status is None:
        return BulkItemResult(campaign_id, "not_found", f"Campaign {campaign_id} does not exist.")
    if status in allowed_from:  # resume of a campaign past its end
        return BulkItemResult(campaign_id, "conflict", f"Cannot resume campaign {campaign_id}: it has ended.")
    return BulkItemResult(
        campaign_id,
        "conflict",
        f"Cannot {action} campaign {campaign_id}: it is {status}; "
        f"{action} is allowed only from {' or '.join(sorted(allowed_from))}.",
    )
