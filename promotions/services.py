"""Writes of promotions (SPEC §12): validation, reserve / commit / rollback / expire, batches.

Every limit is held by the database. Reserving (or committing at once) is ONE conditional
`UPDATE promo_code … WHERE max_redemptions IS NULL OR redeemed_count + reserved_count <
max_redemptions RETURNING`, then, for codes with a per-customer limit, ONE conditional upsert of the
(code, customer) counter (`INSERT … ON CONFLICT DO UPDATE … WHERE redeemed + reserved < limit
RETURNING`); both counters carry a CheckConstraint. Nothing is read and then written: the checks
`code_validate` makes before are advice, the UPDATEs decide. Lock order is always code row, then
counter row, then the redemption row, so concurrent redemptions queue on the code row and cannot
deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import Upper
from django.utils import timezone

from campaigns import budgets
from campaigns.models import Budget, Campaign
from campaigns.rules import PurchaseFacts
from campaigns.snapshots import campaign_snapshot
from core import task_names
from core.actors import SYSTEM_ACTOR
from core.audit import audit_record, audit_record_many, changes_between, values_of
from core.db import violated_constraint
from core.exceptions import ApplicationError, ConflictError, NotFoundError, ValidationFailed
from core.money import money_str
from customers.snapshots import customer_snapshots
from outbox import events
from outbox.services import outbox_enqueue
from promotions.benefits import benefit_errors, benefit_from_json, order_discount
from promotions.generation import PLACEHOLDER, pattern_space, random_codes
from promotions.models import (
    DEFAULT_CHARSET,
    DEFAULT_PATTERN,
    CodeBatch,
    CustomerCodeUsage,
    Job,
    PromoCode,
    Redemption,
)
from promotions.validation import CodeRequest, Order, RedemptionRequest
from tenants.work_due import work_due_at

logger = logging.getLogger(__name__)

# SPEC §12, in the order they are checked: the first that fails is the answer.
CODE_NOT_FOUND = "code_not_found"
CODE_INACTIVE = "code_inactive"
CODE_EXPIRED = "code_expired"
CODE_NOT_STARTED = "code_not_started"
CODE_EXHAUSTED = "code_exhausted"
CUSTOMER_LIMIT_REACHED = "customer_limit_reached"
CUSTOMER_NOT_ELIGIBLE = "customer_not_eligible"
BELOW_MINIMUM = "below_minimum"
CAMPAIGN_NOT_ACTIVE = "campaign_not_active"
BUDGET_EXHAUSTED = "budget_exhausted"
REASONS = (
    CODE_NOT_FOUND,
    CODE_INACTIVE,
    CODE_EXPIRED,
    CODE_NOT_STARTED,
    CODE_EXHAUSTED,
    CUSTOMER_LIMIT_REACHED,
    CUSTOMER_NOT_ELIGIBLE,
    BELOW_MINIMUM,
    CAMPAIGN_NOT_ACTIVE,
    BUDGET_EXHAUSTED,
)
EXPIRE_CHUNK = 1000

_CODE = PromoCode._meta.db_table
_USAGE = CustomerCodeUsage._meta.db_table
_REDEMPTION = Redemption._meta.db_table


@dataclass(frozen=True)
class CodeCheck:
    """What `code_validate` found: valid or the first failing reason, and the discount it would give."""

    valid: bool
    reason: str | None
    discount: Decimal
    currency: str | None
    code: PromoCode | None = None

    def as_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"valid": self.valid}
        if self.reason is not None:
            body["reason"] = self.reason
        body["discount"] = money_str(self.discount, self.currency) if self.currency else "0"
        return body


def promo_code_find(*, code: str) -> PromoCode | None:
    """The brand's code matched case-insensitively (the `upper(code)` unique index serves it)."""
    return (
        PromoCode.objects.select_related("campaign")
        .alias(code_upper=Upper("code"))
        .filter(code_upper=code.strip().upper())
        .first()
    )


def _customer_uses(code: PromoCode, customer_id: str) -> int:
    row = (
        CustomerCodeUsage.objects.filter(code=code, customer_id=customer_id)
        .values_list("redeemed_count", "reserved_count")
        .first()
    )
    return sum(row) if row else 0


def _eligible_customer(
    campaign: Campaign, compiled: Any, customer_id: str, order: Order, now: datetime
) -> bool:
    targeting = compiled.targeting
    if targeting is None:
        return True
    days = targeting.window_days
    snapshot = customer_snapshots(
        customer_ids=[customer_id],
        event_names=targeting.event_names,
        events_since=now - timedelta(days=days) if days else None,
        with_segments=targeting.static_segment,
    ).get(customer_id)
    return targeting.accepts(
        PurchaseFacts(
            purchased_at=now,
            channel=order.channel,
            currency=order.currency,
            lines=order.lines,
            customer=snapshot,
            total=order.total,
            store_id=order.store_id,
            evaluated_at=now,
        )
    )


def budget_ref(redemption_id: int) -> str:
    """The budget ledger reference of a redemption's discount."""
    return f"redemption:{redemption_id}"


def _spend_budget(campaign_id: int) -> Budget | None:
    """The campaign's spend budget, which redemption discounts count against (count budgets count rewards)."""
    return Budget.objects.filter(campaign_id=campaign_id, kind=Budget.Kind.SPEND).first()


def _budget_allows(*, campaign: Campaign, discount: Decimal, now: datetime) -> bool:
    """Advice for validate (no lock): does the discount fit the spend budget's current period?

    The reservation in `_redeem` decides (one conditional UPDATE in campaigns.budgets).
    """
    if discount <= 0:
        return True
    budget = _spend_budget(campaign.pk)
    if budget is None:
        return True
    current = budgets.period_start(period=budget.period, now=now, tz=budgets.brand_timezone())
    committed = budget.committed if budget.period_start and budget.period_start >= current else Decimal(0)
    return committed + budget.reserved + discount <= budget.limit


def _check(request: CodeRequest, now: datetime) -> CodeCheck:
    code = promo_code_find(code=request.code)
    if code is None:
        return CodeCheck(False, CODE_NOT_FOUND, Decimal(0), request.order.currency)
    campaign = code.campaign
    if request.order.currency != campaign.currency:
        raise ApplicationError(
            "The order's currency is not the code's.",
            code="invalid",
            fields={"order": {"currency": [f"This code is for orders in {campaign.currency}."]}},
        )

    def no(reason: str) -> CodeCheck:
        return CodeCheck(False, reason, Decimal(0), campaign.currency, code)

    if not code.active:
        return no(CODE_INACTIVE)
    if code.valid_until is not None and code.valid_until <= now:
        return no(CODE_EXPIRED)
    if code.valid_from is not None and code.valid_from > now:
        return no(CODE_NOT_STARTED)
    if code.max_redemptions is not None and code.redeemed_count + code.reserved_count >= code.max_redemptions:
        return no(CODE_EXHAUSTED)
    if (
        code.per_customer_limit is not None
        and _customer_uses(code, request.customer_id) >= code.per_customer_limit
    ):
        return no(CUSTOMER_LIMIT_REACHED)
    compiled = campaign_snapshot(campaign_id=campaign.pk)
    if not _eligible_customer(campaign, compiled, request.customer_id, request.order, now):
        return no(CUSTOMER_NOT_ELIGIBLE)
    result = order_discount(
        benefit=benefit_from_json(code.benefit),
        lines=request.order.lines,
        currency=campaign.currency,
        excludes=compiled.excludes,
    )
    minimum = code.min_order_value or Decimal(0)
    if not result.eligible_value or result.eligible_value < minimum:
        return no(BELOW_MINIMUM)
    if campaign.status != Campaign.Status.ACTIVE or not (campaign.starts_at <= now < campaign.ends_at):
        return no(CAMPAIGN_NOT_ACTIVE)
    if not _budget_allows(campaign=campaign, discount=result.discount, now=now):
        return no(BUDGET_EXHAUSTED)
    return CodeCheck(True, None, result.discount, campaign.currency, code)


def code_validate(*, request: CodeRequest, now: datetime | None = None) -> CodeCheck:
    """`POST /codes/validate/`: the first failing reason of §12 and the discount; no side effect."""
    return _check(request, now or timezone.now())


# --------------------------------------------------------------------------- redemptions


def _take_use(*, code_id: int, column: str) -> bool:
    """One conditional UPDATE: a use of the code (reserved or redeemed) if one is left."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_CODE} SET {column} = {column} + 1 WHERE id = %s"  # noqa: S608 - our names
            " AND (max_redemptions IS NULL OR redeemed_count + reserved_count < max_redemptions)"
            " RETURNING id",
            [code_id],
        )
        return cursor.fetchone() is not None


def _take_customer_use(*, code_id: int, customer_id: str, limit: int, column: str) -> bool:
    """One conditional upsert of the (code, customer) counter: a use if the customer has one left."""
    reserved, redeemed = (1, 0) if column == "reserved_count" else (0, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_USAGE} AS u (code_id, customer_id, reserved_count, redeemed_count, usage_limit)
            VALUES (%(code)s, %(customer)s, %(reserved)s, %(redeemed)s, %(limit)s)
            ON CONFLICT (code_id, customer_id) DO UPDATE
                SET {column} = u.{column} + 1, usage_limit = EXCLUDED.usage_limit
                WHERE u.redeemed_count + u.reserved_count < EXCLUDED.usage_limit
            RETURNING u.id
            """,  # noqa: S608 - our names, values are parameters
            {
                "code": code_id,
                "customer": customer_id,
                "reserved": reserved,
                "redeemed": redeemed,
                "limit": limit,
            },
        )
        return cursor.fetchone() is not None


def _move_uses(*, code_id: int, customer_id: str, deltas: dict[str, int]) -> None:
    """Counters moved by a commit / rollback / expiry (never towards the limit: no condition needed)."""
    assignments = ", ".join(f"{column} = {column} + %s" for column in deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_CODE} SET {assignments} WHERE id = %s",  # noqa: S608
            [*deltas.values(), code_id],
        )
        cursor.execute(
            f"UPDATE {_USAGE} SET {assignments} WHERE code_id = %s AND customer_id = %s",  # noqa: S608
            [*deltas.values(), code_id, customer_id],
        )


def _same_request(existing: Redemption, request: RedemptionRequest) -> Redemption:
    if existing.body_hash != request.body_hash:
        raise ConflictError(
            "This Idempotency-Key was used with a different request.", code="idempotency_conflict"
        )
    return existing


def redemption_create(
    *, actor: str, idempotency_key: str, request: RedemptionRequest, now: datetime | None = None
) -> tuple[Redemption, bool]:
    """`POST /redemptions/`: reserve a use (or commit one at once); `(redemption, created)`.

    The same key with the same body answers the stored redemption (created False); with another
    body, 409 `idempotency_conflict`. A code that cannot be used is 409 with the §12 reason as code.
    Only successes are stored: a refused request keeps nothing, so its retry is decided afresh.
    """
    existing = Redemption.objects.filter(idempotency_key=idempotency_key).select_related("code").first()
    if existing is not None:
        return _same_request(existing, request), False
    try:
        return _redeem(actor=actor, idempotency_key=idempotency_key, request=request, now=now), True
    except IntegrityError as error:
        if violated_constraint(error) != "redemption_idempotency_key_unique":
            raise
    # A concurrent request with the same key won: answer as it did.
    return _same_request(
        Redemption.objects.select_related("code").get(idempotency_key=idempotency_key), request
    ), False


@transaction.atomic
def _redeem(
    *, actor: str, idempotency_key: str, request: RedemptionRequest, now: datetime | None
) -> Redemption:
    now = now or timezone.now()
    check = _check(CodeRequest(request.code, request.customer_id, request.order), now)
    if not check.valid:
        raise ConflictError(f"The code cannot be used: {check.reason}.", code=check.reason)
    code = check.code
    assert code is not None
    column = "reserved_count" if request.mode == "reserve" else "redeemed_count"
    if not _take_use(code_id=code.pk, column=column):
        raise ConflictError("The code has no use left.", code=CODE_EXHAUSTED)
    if code.per_customer_limit is not None and not _take_customer_use(
        code_id=code.pk, customer_id=request.customer_id, limit=code.per_customer_limit, column=column
    ):
        raise ConflictError(
            "The customer has used this code as often as allowed.", code=CUSTOMER_LIMIT_REACHED
        )
    reserve = request.mode == "reserve"
    expires_at = now + timedelta(seconds=request.ttl_seconds) if reserve else None
    with transaction.atomic():  # a savepoint: a duplicate key rolls back to here, not the whole
        redemption = Redemption.objects.create(
            code=code,
            customer_id=request.customer_id,
            order_ref=request.order_ref,
            status=Redemption.Status.RESERVED if reserve else Redemption.Status.COMMITTED,
            discount=check.discount,
            currency=code.campaign.currency,
            order=request.order.as_json(),
            idempotency_key=idempotency_key,
            body_hash=request.body_hash,
            expires_at=expires_at,
            committed_at=None if reserve else now,
        )
    if check.discount > 0 and _spend_budget(code.campaign_id) is not None:
        # In this transaction: a refusal rolls back the uses taken above, and keeps nothing.
        ref = budget_ref(redemption.pk)
        if not budgets.budget_reserve(campaign_id=code.campaign_id, amount=check.discount, ref=ref, now=now):
            raise ConflictError("The discount does not fit the campaign's budget.", code=BUDGET_EXHAUSTED)
        if not reserve:
            budgets.budget_commit(ref=ref, now=now)
    audit_record(
        actor=actor,
        action="redemption.reserved" if reserve else "redemption.committed",
        obj_or_type=redemption,
        changes={
            "status": {"before": None, "after": redemption.status},
            "code": {"before": None, "after": code.code},
            "customer_id": {"before": None, "after": request.customer_id},
            "discount": {"before": None, "after": money_str(check.discount, code.campaign.currency)},
        },
    )
    if reserve:
        # The maintenance tick releases the reservation if it is neither committed nor rolled back.
        work_due_at(at=expires_at)
    else:
        _emit(events.EventType.REDEMPTION_COMMITTED, redemption, code=code, at=now)
    return redemption


def _emit(event_type: str, redemption: Redemption, *, code: PromoCode, at: datetime) -> None:
    """`redemption.committed` / `redemption.rolled_back` to the brand's webhooks, in this transaction."""
    data: dict[str, Any] = {
        "redemption_id": redemption.pk,
        "code": code.code,
        "campaign_id": code.campaign_id,
        "customer_id": redemption.customer_id,
        "order_ref": redemption.order_ref,
        "status": redemption.status,
        "discount": money_str(redemption.discount, redemption.currency),
        "currency": redemption.currency,
    }
    if event_type == events.EventType.REDEMPTION_ROLLED_BACK:
        data["reason"] = redemption.rollback_reason
    events.emit(event_type, data, occurred_at=at)


def _redemption_for_update(redemption_id: int) -> Redemption:
    redemption = (
        Redemption.objects.select_for_update(of=("self",))
        .select_related("code")
        .filter(pk=redemption_id)
        .first()
    )
    if redemption is None:
        raise NotFoundError("No such redemption.")
    return redemption


@transaction.atomic
def redemption_commit(*, actor: str, redemption_id: int, now: datetime | None = None) -> Redemption:
    """A reservation becomes a redemption: one conditional UPDATE (still reserved, not expired)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_REDEMPTION} SET status = 'committed', committed_at = %s"  # noqa: S608
            " WHERE id = %s AND status = 'reserved' AND expires_at > %s RETURNING code_id, customer_id",
            [now, redemption_id, now],
        )
        row = cursor.fetchone()
    if row is None:
        redemption = Redemption.objects.filter(pk=redemption_id).first()
        if redemption is None:
            raise NotFoundError("No such redemption.")
        if redemption.status == Redemption.Status.COMMITTED:
            return redemption  # committing twice is harmless: the use is already counted
        code = (
            "reservation_expired"
            if redemption.status in ("reserved", "expired")
            else "redemption_rolled_back"
        )
        raise ConflictError(f"This redemption is {redemption.status} and cannot be committed.", code=code)
    _move_uses(code_id=row[0], customer_id=row[1], deltas={"reserved_count": -1, "redeemed_count": 1})
    budgets.budget_commit(ref=budget_ref(redemption_id), now=now)
    redemption = Redemption.objects.select_related("code").get(pk=redemption_id)
    audit_record(
        actor=actor,
        action="redemption.committed",
        obj_or_type=redemption,
        changes={"status": {"before": "reserved", "after": "committed"}},
    )
    _emit(events.EventType.REDEMPTION_COMMITTED, redemption, code=redemption.code, at=now)
    return redemption


@transaction.atomic
def redemption_rollback(
    *, actor: str, redemption_id: int, reason: str = "", now: datetime | None = None
) -> Redemption:
    """Give the use back: a reservation or a committed redemption (a refund). 409 when already settled."""
    now = now or timezone.now()
    redemption = _redemption_for_update(redemption_id)
    before = redemption.status
    if before not in (Redemption.Status.RESERVED, Redemption.Status.COMMITTED):
        raise ConflictError(
            f"This redemption is {before} and cannot be rolled back.", code="redemption_settled"
        )
    column = "reserved_count" if before == Redemption.Status.RESERVED else "redeemed_count"
    Redemption.objects.filter(pk=redemption.pk).update(
        status=Redemption.Status.ROLLED_BACK, rolled_back_at=now, rollback_reason=reason
    )
    _move_uses(code_id=redemption.code_id, customer_id=redemption.customer_id, deltas={column: -1})
    # The discount goes back to the budget: an open reservation is released, a spent one refunded.
    if before == Redemption.Status.RESERVED:
        budgets.budget_release(ref=budget_ref(redemption.pk), now=now)
    else:
        budgets.budget_refund(ref=budget_ref(redemption.pk), now=now)
    redemption.refresh_from_db()
    audit_record(
        actor=actor,
        action="redemption.rolled_back",
        obj_or_type=redemption,
        changes={
            "status": {"before": before, "after": redemption.status},
            "reason": {"before": None, "after": reason},
        },
    )
    _emit(events.EventType.REDEMPTION_ROLLED_BACK, redemption, code=redemption.code, at=now)
    return redemption


def redemptions_rollback_for_order(*, actor: str, order_ref: str, reason: str) -> int:
    """Roll back every live redemption of an order (a refunded purchase's `external_id`)."""
    ids = list(
        Redemption.objects.filter(order_ref=order_ref, status__in=["reserved", "committed"]).values_list(
            "id", flat=True
        )
    )
    for redemption_id in ids:
        try:
            redemption_rollback(actor=actor, redemption_id=redemption_id, reason=reason)
        except ConflictError:
            continue  # settled meanwhile (expired or rolled back by someone else)
    return len(ids)


def redemptions_expire(*, now: datetime | None = None, limit: int = EXPIRE_CHUNK) -> int:
    """Release reservations past `expires_at` (the maintenance tick): one statement per chunk.

    Rows are claimed with `FOR UPDATE SKIP LOCKED`: a reservation being committed right now is
    skipped (its commit decides), and two ticks never release the same reservation twice.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH picked AS MATERIALIZED (
                    SELECT id FROM {_REDEMPTION}
                    WHERE status = 'reserved' AND expires_at <= %(now)s
                    ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
                ), expired AS (  -- the pick is a CTE so its LIMIT holds (a re-run subquery takes more)
                    UPDATE {_REDEMPTION} r SET status = 'expired' FROM picked WHERE r.id = picked.id
                    RETURNING r.id, r.code_id, r.customer_id
                ), by_code AS (
                    UPDATE {_CODE} c SET reserved_count = c.reserved_count - e.n
                    FROM (SELECT code_id, count(*) AS n FROM expired GROUP BY code_id) e
                    WHERE c.id = e.code_id
                    RETURNING c.id
                ), by_customer AS (
                    UPDATE {_USAGE} u SET reserved_count = u.reserved_count - e.n
                    FROM (SELECT code_id, customer_id, count(*) AS n FROM expired GROUP BY 1, 2) e
                    WHERE u.code_id = e.code_id AND u.customer_id = e.customer_id
                    RETURNING u.id
                )
                SELECT id FROM expired
                """,  # noqa: S608 - our table names; values are parameters
                {"now": now, "limit": limit},
            )
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                budgets.budgets_release_refs(refs=[budget_ref(pk) for pk in ids], now=now)
                audit_record_many(
                    actor=SYSTEM_ACTOR,
                    action="redemption.expired",
                    entries=[
                        (Redemption(pk=pk), {"status": {"before": "reserved", "after": "expired"}})
                        for pk in ids
                    ],
                )
        total += len(ids)
        if len(ids) < limit:
            return total


def next_reservation_expiry() -> datetime | None:
    """When the earliest live reservation expires (the tick's next due time), or None."""
    return (
        Redemption.objects.filter(status=Redemption.Status.RESERVED)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )


# --------------------------------------------------------------------------- batches and generation

MAX_BATCH_COUNT = 1_000_000
GENERATION_CHUNK = 50_000
MAX_TOP_UPS = 20
# SPEC §12: refuse a pattern whose space is < 100 × the codes that would exist in it.
SPACE_FACTOR = 100
MAX_CODE_LENGTH = PromoCode._meta.get_field("code").max_length


@dataclass(frozen=True)
class BatchInput:
    count: int
    pattern: str = DEFAULT_PATTERN
    charset: str = DEFAULT_CHARSET
    prefix: str = ""
    postfix: str = ""
    max_redemptions: int | None = 1
    per_customer_limit: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    benefit: dict[str, Any] | None = None
    min_order_value: Decimal | None = None


def _batch_errors(data: BatchInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (1 <= data.count <= MAX_BATCH_COUNT):
        errors["count"] = [f"From 1 to {MAX_BATCH_COUNT:,} codes per batch."]
    if (
        not data.pattern
        or len(data.pattern) > 64
        or not data.pattern.isascii()
        or not data.pattern.isprintable()
    ):
        errors["pattern"] = ["1 to 64 printable ASCII characters; each # becomes a random character."]
    elif PLACEHOLDER not in data.pattern and data.count != 1:
        errors["pattern"] = ["A pattern without # makes one code: use count 1, or add # to the pattern."]
    charset = data.charset
    if (
        len(set(charset)) < 2
        or not charset.isascii()
        or not charset.isprintable()
        or PLACEHOLDER in charset
        or " " in charset
    ):
        errors["charset"] = ["At least 2 different printable ASCII characters, without # or spaces."]
    for name in ("prefix", "postfix"):
        text = getattr(data, name)
        if len(text) > 32 or not text.isprintable() or "\x00" in text:
            errors[name] = ["At most 32 printable characters."]
    if len(data.prefix) + len(data.pattern) + len(data.postfix) > MAX_CODE_LENGTH:
        errors["pattern"] = [f"A code has at most {MAX_CODE_LENGTH} characters with its prefix and postfix."]
    for name in ("max_redemptions", "per_customer_limit"):
        value = getattr(data, name)
        if value is not None and value < 1:
            errors[name] = ["At least 1, or empty for unlimited."]
    if data.valid_from and data.valid_until and data.valid_until <= data.valid_from:
        errors["valid_until"] = ["Must be after valid_from."]
    benefit_problems = benefit_errors(data.benefit)
    if benefit_problems:
        errors["benefit"] = [
            f"{key}: {message}" for key, messages in benefit_problems.items() for message in messages
        ]
    if data.min_order_value is not None and data.min_order_value < 0:
        errors["min_order_value"] = ["Cannot be negative."]
    return errors


def _existing_in_space(data: BatchInput) -> int:
    return (
        CodeBatch.objects.filter(
            pattern=data.pattern,
            charset=data.charset,
            prefix__iexact=data.prefix,
            postfix__iexact=data.postfix,
        ).aggregate(n=Sum("count"))["n"]
        or 0
    )


def code_batch_check(*, data: BatchInput) -> None:
    """ValidationFailed unless `data` makes a batch: its fields, and a pattern space ≥ 100 × the codes in it.

    The admin form shows the same errors as the API's 400 before anything is written.
    """
    errors = _batch_errors(data)
    if errors:
        raise ValidationFailed(errors)
    if PLACEHOLDER in data.pattern:
        would_exist = _existing_in_space(data) + data.count
        space = pattern_space(data.pattern, data.charset)
        if space < SPACE_FACTOR * would_exist:
            raise ValidationFailed(
                {
                    "pattern": [
                        f"The pattern makes {space:,} codes: fewer than {SPACE_FACTOR} × the {would_exist:,} codes "
                        "that would exist in it. Add # characters or widen the charset."
                    ]
                }
            )


@transaction.atomic
def code_batch_create(*, actor: str, campaign_id: int, data: BatchInput) -> CodeBatch:
    """A batch and its generation job (202 at `POST /campaigns/{id}/codes/generate/`); codes come from the task."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFoundError("No such campaign.")
    code_batch_check(data=data)
    if campaign.status in (Campaign.Status.CANCELLED, Campaign.Status.ARCHIVED, Campaign.Status.COMPLETED):
        raise ConflictError(
            f"The campaign is {campaign.status}: it takes no new codes.", code="campaign_closed"
        )
    job = Job.objects.create(kind=Job.Kind.GENERATE_CODES, total=data.count)
    batch = CodeBatch.objects.create(
        campaign=campaign,
        count=data.count,
        pattern=data.pattern,
        charset=data.charset,
        prefix=data.prefix,
        postfix=data.postfix,
        max_redemptions=data.max_redemptions,
        per_customer_limit=data.per_customer_limit,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        benefit=dict(data.benefit or {}),
        min_order_value=data.min_order_value,
        job=job,
    )
    audit_record(
        actor=actor,
        action="code_batch.created",
        obj_or_type=batch,
        changes=changes_between(
            None,
            values_of(
                batch,
                ["campaign", "count", "pattern", "prefix", "postfix", "max_redemptions", "per_customer_limit",
                 "valid_from", "valid_until", "benefit", "min_order_value"],
            ),
        ),
    )  # fmt: skip
    outbox_enqueue(task_name=task_names.GENERATE_CODES, args=[job.pk])
    return batch


@transaction.atomic
def code_batch_generate_resume(*, actor: str, batch_id: int) -> Job:
    """Send a batch's generation again (the admin's "generate" action): a stalled or failed job resumes.

    The task resumes from the job's count, so asking twice never makes more than `count` codes; a job
    that is done is a 409 `generation_done`.
    """
    batch = CodeBatch.objects.select_related("job").filter(pk=batch_id).first()
    if batch is None:
        raise NotFoundError("No such code batch.")
    job = Job.objects.select_for_update().filter(batch=batch).first()
    if job is None:
        job = Job.objects.create(kind=Job.Kind.GENERATE_CODES, total=batch.count)
        batch.job = job
        batch.save(update_fields=["job"])
    if job.status == Job.Status.DONE:
        raise ConflictError("This batch's codes are all generated.", code="generation_done")
    before = job.status
    job.status, job.error, job.finished_at = Job.Status.QUEUED, "", None
    job.save(update_fields=["status", "error", "finished_at"])
    audit_record(
        actor=actor,
        action="code_batch.generation_resumed",
        obj_or_type=batch,
        changes={
            "job_status": {"before": before, "after": job.status},
            "done": {"before": None, "after": job.done},
        },
    )
    outbox_enqueue(task_name=task_names.GENERATE_CODES, args=[job.pk])
    return job


def _insert_codes(batch: CodeBatch, codes: list[str]) -> int:
    """Insert codes ignoring any that exist (in any case): the unique index decides. Returns how many went in."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_CODE} (campaign_id, batch_id, code, max_redemptions, per_customer_limit, redeemed_count,
                                 reserved_count, valid_from, valid_until, active, benefit, min_order_value, created_at)
            SELECT %(campaign)s, %(batch)s, t.code, %(max)s, %(per_customer)s, 0, 0, %(valid_from)s, %(valid_until)s,
                   true, %(benefit)s::jsonb, %(min_order)s, now()
            FROM unnest(%(codes)s::text[]) AS t(code)
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 - our table name; values are parameters
            {
                "campaign": batch.campaign_id,
                "batch": batch.pk,
                "max": batch.max_redemptions,
                "per_customer": batch.per_customer_limit,
                "valid_from": batch.valid_from,
                "valid_until": batch.valid_until,
                "benefit": orjson.dumps(batch.benefit).decode(),
                "min_order": batch.min_order_value,
                "codes": codes,
            },
        )
        return cursor.rowcount


def code_batch_generate(*, job_id: int, chunk: int = GENERATION_CHUNK) -> Job:
    """Run a generation job (its task): chunk by chunk, each chunk one transaction that locks the job row.

    A chunk reads `done` under the lock, inserts what is still missing (topping up codes that clashed),
    and counts them in the same transaction: a task run twice, or killed and redelivered, resumes and
    never makes more than `count` codes.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFoundError("No such job.")
    Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now()
    )
    Job.objects.filter(pk=job_id).update(attempts=F("attempts") + 1)
    while True:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.status in (Job.Status.DONE, Job.Status.FAILED):
                return job
            batch = CodeBatch.objects.get(job=job)
            missing = min(chunk, job.total - job.done)
            if missing <= 0:
                job.status, job.finished_at = Job.Status.DONE, timezone.now()
                job.save(update_fields=["status", "finished_at"])
                logger.info("codes generated", extra={"batch_id": batch.pk, "codes": job.done})
                return job
            inserted = 0
            for _attempt in range(MAX_TOP_UPS):
                if PLACEHOLDER in batch.pattern:
                    codes = random_codes(
                        count=missing - inserted,
                        pattern=batch.pattern,
                        charset=batch.charset,
                        prefix=batch.prefix,
                        postfix=batch.postfix,
                    )
                else:
                    codes = [f"{batch.prefix}{batch.pattern}{batch.postfix}"]
                inserted += _insert_codes(batch, codes)
                if inserted >= missing or PLACEHOLDER not in batch.pattern:
                    break
            job.done += inserted
            if inserted < missing:
                job.status, job.finished_at = Job.Status.FAILED, timezone.now()
                job.error = (
                    f"Only {job.done:,} of {job.total:,} codes could be made: the code is taken"
                    if PLACEHOLDER not in batch.pattern
                    else f"Only {job.done:,} of {job.total:,} unique codes after {MAX_TOP_UPS} tries: the pattern is too crowded."
                )
                job.save(update_fields=["done", "status", "finished_at", "error"])
                return job
            job.save(update_fields=["done"])


MAX_CODES_SELECTED = 10_000


@transaction.atomic
def codes_set_active(
    *, actor: str, active: bool, code_ids: Sequence[int] | None = None, batch_id: int | None = None
) -> int:
    """Deactivate (or reactivate) codes: the selected ones, or every code of a batch; how many changed.

    An inactive code answers `code_inactive` at validation and redemption (SPEC §12); redemptions
    already reserved or committed keep their use. One UPDATE of the codes that are not already so.
    The audit row names each code of a selection, or, for a batch (up to millions of codes), the
    batch with its count.
    """
    if (code_ids is None) == (batch_id is None):
        raise ValidationFailed({"codes": ["Give the selected codes or a batch, one of them."]})
    if code_ids is not None:
        if len(code_ids) > MAX_CODES_SELECTED:
            raise ValidationFailed(
                {"codes": [f"At most {MAX_CODES_SELECTED:,} codes at once: use the batch."]}
            )
        changed = list(
            PromoCode.objects.filter(pk__in=list(code_ids))
            .exclude(active=active)
            .select_for_update()
            .only("id", "code")
        )
        PromoCode.objects.filter(pk__in=[code.pk for code in changed]).update(active=active)
        audit_record_many(
            actor=actor,
            action="promo_code.activated" if active else "promo_code.deactivated",
            entries=[(code, {"active": {"before": not active, "after": active}}) for code in changed],
        )
        return len(changed)
    batch = CodeBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        raise NotFoundError(f"No code batch {batch_id}.")
    count = PromoCode.objects.filter(batch=batch).exclude(active=active).update(active=active)
    if count:
        audit_record(
            actor=actor,
            action="code_batch.activated" if active else "code_batch.deactivated",
            obj_or_type=batch,
            changes={"codes_" + ("activated" if active else "deactivated"): {"before": 0, "after": count}},
        )
    return count


def job_get(*, job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFoundError("No such job.")
    return job
