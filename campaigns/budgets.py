"""Budgets (SPEC §13): reserve, commit and release, never above the limit under any concurrency.

Every change of a budget's counters is ONE statement that locks the budget row and
changes it only if `committed + reserved <= limit` still holds afterwards
(`budget_within_limit` backs it: a bug here is an IntegrityError, never an
overspend). No read-then-write:

* `budgets_reserve_for_batch` -- the purchase pipeline's evaluation transaction
  reserves for ALL the eligible pairs of a batch, every budgeted campaign at once,
  in one `UPDATE … FROM (SELECT … FOR UPDATE) … RETURNING`: for each campaign the
  number of pairs that fit (`floor(free / unit)`, at most the pairs asked for). The
  caller gives the first ones (in purchase order) their dispatch and the rest the
  reason `budget_exhausted`. Campaigns without a budget return nothing.
* `budget_reserve` / `budget_commit` / `budget_release` -- one reference at a time
  (a promo-code redemption, a dead-letter replay), the same guarantees.
* `budgets_commit_refs` / `budgets_release_refs` -- the dispatch recording settles
  its chunk in one statement: `sent` commits, `dead` releases.

Periods roll over inside those same statements: the period start is computed in SQL
from the brand's timezone (`date_trunc(period, now AT TIME ZONE tz) AT TIME ZONE tz`,
so a DST change moves it with the wall clock); a budget whose `period_start` is older
starts the new period with `committed = 0` and a cleared threshold. Reservations still
open are carried into the new period (they count where they are settled).

Thresholds: when a reservation brings `committed + reserved` to `pause_at_percent`
of the limit, the campaign is paused (actor `system`, note `budget_threshold`) and
`budget.threshold` is audited, once per period; when the budget is full (or a pair
did not fit) the campaign is completed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from campaigns.budget_units import reward_unit
from campaigns.models import Budget, BudgetLedger, Campaign
from core.actors import SYSTEM_ACTOR
from core.audit import audit_record, changes_between, values_of
from core.exceptions import ConflictError, NotFoundError, ValidationFailed
from outbox import events

logger = logging.getLogger(__name__)

THRESHOLD_NOTE = "budget_threshold"
EXHAUSTED_NOTE = "budget_exhausted"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

BUDGET_TABLE = Budget._meta.db_table
LEDGER_TABLE = BudgetLedger._meta.db_table
CAMPAIGN_TABLE = Campaign._meta.db_table

# The current period's start of budget `b`, in the brand's time zone %(tz)s at %(now)s.
_PERIOD_START = (
    "(CASE b.period WHEN 'total' THEN %(epoch)s::timestamptz"
    " ELSE date_trunc(b.period, %(now)s::timestamptz AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s END)"
)
# The reward value one dispatch costs: 1 for a count budget, the reward's value for a spend budget
# (NULL, i.e. nothing fits, when the reward's value is not a plain number: never overspend).
_UNIT = (
    "(CASE b.kind WHEN 'count' THEN 1::numeric"
    " ELSE (CASE WHEN c.reward->>'value' ~ '^[0-9]+(\\.[0-9]+)?$'"
    " AND (c.reward->>'value')::numeric > 0 THEN (c.reward->>'value')::numeric END) END)"
)


_TIMEZONE_CACHE_SECONDS = 60.0
_timezones: dict[str, tuple[str, float]] = {}


def brand_timezone() -> str:
    """The brand's IANA zone (SPEC §13 periods are in it).

    From the connection's tenant when it is a loaded Brand (requests); else (Celery tasks carry a bare
    schema) read once a minute per schema, not once per batch.
    """
    tenant = getattr(connection, "tenant", None)
    tz = getattr(tenant, "timezone", None)
    if tz:
        return tz
    schema = connection.schema_name
    cached = _timezones.get(schema)
    if cached is not None and time.monotonic() - cached[1] < _TIMEZONE_CACHE_SECONDS:
        return cached[0]
    from tenants.models import Brand

    tz = Brand.objects.filter(schema_name=schema).values_list("timezone", flat=True).first() or "UTC"
    _timezones[schema] = (tz, time.monotonic())
    return tz


def period_start(*, period: str, now: datetime, tz: str) -> datetime:
    """Python twin of `_PERIOD_START` (for display and tests): the start of the period holding `now`."""
    if period == Budget.Period.TOTAL:
        return EPOCH
    local = now.astimezone(ZoneInfo(tz))
    day = local.date()
    if period == Budget.Period.WEEK:
        day -= timedelta(days=day.weekday())
    elif period == Budget.Period.MONTH:
        day = day.replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def dispatch_ref(*, purchase_id: int, campaign_id: int) -> str:
    """The ledger reference of the reward of one (purchase, campaign) pair."""
    return f"dispatch:{purchase_id}:{campaign_id}"


# --------------------------------------------------------------------------- reserving


@dataclass(frozen=True)
class BatchReservation:
    campaign_id: int
    budget_id: int
    fit: int
    unit: Decimal
    committed: Decimal
    reserved: Decimal
    limit: Decimal
    threshold_due: bool


def budgets_reserve_for_batch(
    *, pairs: Mapping[int, Sequence[str]], now: datetime
) -> dict[int, BatchReservation]:
    """Reserve for the batch's eligible pairs (`campaign_id → refs in purchase order`), in ONE statement.

    Must run in the caller's transaction (the evaluation's). Returns only budgeted campaigns; for each,
    the first `fit` refs hold a reservation (ledger rows written here) and the rest do not fit.
    """
    if not pairs:
        return {}
    campaign_ids = list(pairs)
    counts = [len(pairs[c]) for c in campaign_ids]
    params = {
        "campaign_ids": campaign_ids,
        "counts": counts,
        "now": now,
        "tz": brand_timezone(),
        "epoch": EPOCH,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH asked(campaign_id, n) AS (SELECT * FROM unnest(%(campaign_ids)s::bigint[], %(counts)s::int[])),
            locked AS (
                SELECT b.id, asked.n, b."limit", b.committed, b.reserved, {_UNIT} AS unit,
                       {_PERIOD_START} AS current_start,
                       (b.period_start IS NULL OR b.period_start < {_PERIOD_START}) AS rolled
                FROM {BUDGET_TABLE} b
                JOIN asked ON asked.campaign_id = b.campaign_id
                JOIN {CAMPAIGN_TABLE} c ON c.id = b.campaign_id
                ORDER BY b.id
                FOR UPDATE OF b
            ),
            -- From the locked (latest) row versions only: a plain second scan of the budget table would
            -- read this statement's snapshot, older than a concurrent reservation just committed.
            fitted AS (
                SELECT l.id, l.unit, l.current_start, l.rolled,
                       CASE WHEN l.unit IS NULL THEN 0 ELSE GREATEST(0, LEAST(l.n, floor(
                           (l."limit" - (CASE WHEN l.rolled THEN 0 ELSE l.committed END) - l.reserved) / l.unit
                       )))::int END AS fit
                FROM locked l
            )
            UPDATE {BUDGET_TABLE} b SET
                committed = CASE WHEN f.rolled THEN 0 ELSE b.committed END,
                threshold_at = CASE WHEN f.rolled THEN NULL ELSE b.threshold_at END,
                period_start = f.current_start,
                reserved = b.reserved + f.fit * coalesce(f.unit, 0),
                updated_at = %(now)s
            FROM fitted f
            WHERE b.id = f.id
              AND (CASE WHEN f.rolled THEN 0 ELSE b.committed END) + b.reserved + f.fit * coalesce(f.unit, 0)
                  <= b."limit"
            RETURNING b.campaign_id, b.id, f.fit, coalesce(f.unit, 0), b.committed, b.reserved, b."limit",
                      b.threshold_at IS NULL
                      AND (b.committed + b.reserved) * 100 >= b."limit" * b.pause_at_percent
            """,  # noqa: S608
            params,
        )
        rows = cursor.fetchall()
    result = {row[0]: BatchReservation(*row) for row in rows}
    ledger: list[tuple[int, str, Decimal]] = []
    for campaign_id, reservation in result.items():
        ledger.extend(
            (reservation.budget_id, ref, reservation.unit) for ref in pairs[campaign_id][: reservation.fit]
        )
    _insert_ledger(ledger, now=now)
    for reservation in result.values():
        _after_reservation(
            campaign_id=reservation.campaign_id,
            budget_id=reservation.budget_id,
            threshold_due=reservation.threshold_due,
            full=reservation.fit < len(pairs[reservation.campaign_id])
            or reservation.committed + reservation.reserved >= reservation.limit,
            now=now,
        )
    return result


def _insert_ledger(entries: Sequence[tuple[int, str, Decimal]], *, now: datetime) -> None:
    if not entries:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {LEDGER_TABLE} (budget_id, ref, amount, status, period_start, created_at)
            SELECT e.budget_id, e.ref, e.amount, 'reserved', b.period_start, %s
            FROM unnest(%s::bigint[], %s::text[], %s::numeric[]) AS e(budget_id, ref, amount)
            JOIN {BUDGET_TABLE} b ON b.id = e.budget_id
            """,  # noqa: S608
            [now, [e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries]],
        )


def _after_reservation(
    *, campaign_id: int, budget_id: int, threshold_due: bool, full: bool, now: datetime
) -> None:
    """The threshold (once per period: pause, audit, alarm) and 100 % (complete)."""
    from campaigns import services

    if threshold_due:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {BUDGET_TABLE} SET threshold_at = %s WHERE id = %s AND threshold_at IS NULL"  # noqa: S608
                ' RETURNING committed, reserved, "limit", pause_at_percent',
                [now, budget_id],
            )
            fired = cursor.fetchone()
        if fired is not None:
            committed, reserved, limit, percent = fired
            # The amount at which the threshold was crossed (a count budget: the 45th reward of 50).
            crossed_at = limit * percent / 100
            if crossed_at == crossed_at.to_integral_value():
                crossed_at = crossed_at.to_integral_value()
            audit_record(
                actor=SYSTEM_ACTOR,
                action="budget.threshold",
                obj_or_type=Campaign,
                object_id=campaign_id,
                changes={
                    "used": {"before": None, "after": str(committed + reserved)},
                    "limit": {"before": None, "after": str(limit)},
                    "pause_at_percent": {"before": None, "after": percent},
                    "crossed_at": {"before": None, "after": format(crossed_at.normalize(), "f")},
                },
            )
            events.emit(
                events.EventType.BUDGET_THRESHOLD,
                {
                    "campaign_id": campaign_id,
                    "used": committed + reserved,
                    "limit": limit,
                    "pause_at_percent": percent,
                },
                occurred_at=now,
            )
            if Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE).exists():
                services.campaign_pause(campaign_id=campaign_id, actor=SYSTEM_ACTOR, note=THRESHOLD_NOTE)
            logger.warning("budget threshold reached", extra={"campaign_id": campaign_id})
    if (
        full
        and Campaign.objects.filter(
            pk=campaign_id, status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED]
        ).exists()
    ):
        services.campaign_complete(campaign_id=campaign_id, actor=SYSTEM_ACTOR, note=EXHAUSTED_NOTE, now=now)


@transaction.atomic
def budget_reserve(*, campaign_id: int, amount: Decimal, ref: str, now: datetime | None = None) -> bool:
    """Reserve `amount` of the campaign's budget for `ref` (a redemption, a replayed dispatch).

    True: reserved (or `ref` already holds an open reservation: idempotent); False: it does not fit
    (the caller answers `budget_exhausted`). A campaign without a budget always fits (True, no row).
    """
    now = now or timezone.now()
    if amount <= 0:
        raise ValidationFailed({"amount": ["Amount must be greater than zero."]})
    if BudgetLedger.objects.filter(ref=ref, status=BudgetLedger.Status.RESERVED).exists():
        return True
    params = {
        "campaign_id": campaign_id,
        "amount": amount,
        "now": now,
        "tz": brand_timezone(),
        "epoch": EPOCH,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH locked AS (
                SELECT b.id, {_PERIOD_START} AS current_start,
                       (b.period_start IS NULL OR b.period_start < {_PERIOD_START}) AS rolled
                FROM {BUDGET_TABLE} b WHERE b.campaign_id = %(campaign_id)s FOR UPDATE
            )
            UPDATE {BUDGET_TABLE} b SET
                committed = CASE WHEN l.rolled THEN 0 ELSE b.committed END,
                threshold_at = CASE WHEN l.rolled THEN NULL ELSE b.threshold_at END,
                period_start = l.current_start,
                reserved = b.reserved + %(amount)s,
                updated_at = %(now)s
            FROM locked l
            WHERE b.id = l.id
              AND (CASE WHEN l.rolled THEN 0 ELSE b.committed END) + b.reserved + %(amount)s <= b."limit"
            RETURNING b.id, b.committed, b.reserved, b."limit",
                      b.threshold_at IS NULL
                      AND (b.committed + b.reserved) * 100 >= b."limit" * b.pause_at_percent
            """,  # noqa: S608
            params,
        )
        row = cursor.fetchone()
    if row is None:
        if not Budget.objects.filter(campaign_id=campaign_id).exists():
            return True
        _after_reservation(campaign_id=campaign_id, budget_id=0, threshold_due=False, full=True, now=now)
        return False
    budget_id, committed, reserved, limit, threshold_due = row
    _insert_ledger([(budget_id, ref, amount)], now=now)
    _after_reservation(
        campaign_id=campaign_id,
        budget_id=budget_id,
        threshold_due=threshold_due,
        full=committed + reserved >= limit,
        now=now,
    )
    return True


def budget_reserve_reward(*, campaign_id: int, purchase_id: int, now: datetime | None = None) -> bool:
    """Reserve again for a (purchase, campaign) reward, e.g. a dead-letter replay. False: no room."""
    budget = Budget.objects.filter(campaign_id=campaign_id).select_related("campaign").first()
    if budget is None:
        return True
    unit = reward_unit(kind=budget.kind, reward=budget.campaign.reward)
    if unit is None:
        return False
    return budget_reserve(
        campaign_id=campaign_id,
        amount=unit,
        ref=dispatch_ref(purchase_id=purchase_id, campaign_id=campaign_id),
        now=now,
    )


def _settle(refs: Sequence[str], *, to: str, now: datetime) -> int:
    """Settle the open reservations of `refs` (commit or release) in ONE statement; returns how many."""
    if not refs:
        return 0
    committing = to == BudgetLedger.Status.COMMITTED
    params = {"refs": list(refs), "to": to, "now": now, "tz": brand_timezone(), "epoch": EPOCH}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH settled AS (
                UPDATE {LEDGER_TABLE} SET status = %(to)s, settled_at = %(now)s
                WHERE ref = ANY(%(refs)s::text[]) AND status = 'reserved'
                RETURNING budget_id, amount
            ),
            totals AS (SELECT budget_id, sum(amount) AS amount FROM settled GROUP BY budget_id),
            locked AS (
                SELECT b.id, t.amount, {_PERIOD_START} AS current_start,
                       (b.period_start IS NULL OR b.period_start < {_PERIOD_START}) AS rolled
                FROM {BUDGET_TABLE} b JOIN totals t ON t.budget_id = b.id
                ORDER BY b.id FOR UPDATE OF b
            )
            UPDATE {BUDGET_TABLE} b SET
                committed = (CASE WHEN l.rolled THEN 0 ELSE b.committed END)
                            + {"l.amount" if committing else "0"},
                threshold_at = CASE WHEN l.rolled THEN NULL ELSE b.threshold_at END,
                period_start = l.current_start,
                reserved = b.reserved - l.amount,
                updated_at = %(now)s
            FROM locked l WHERE b.id = l.id
            RETURNING b.id
            """,  # noqa: S608
            params,
        )
        return cursor.rowcount


def budgets_commit_refs(*, refs: Sequence[str], now: datetime | None = None) -> int:
    """Reserved → committed (a dispatch `sent`, a redemption committed). Refs without a reservation: no-op."""
    return _settle(refs, to=BudgetLedger.Status.COMMITTED, now=now or timezone.now())


def budgets_release_refs(*, refs: Sequence[str], now: datetime | None = None) -> int:
    """Reserved → released (a dispatch `dead`, a redemption rolled back). No reservation: no-op."""
    return _settle(refs, to=BudgetLedger.Status.RELEASED, now=now or timezone.now())


@transaction.atomic
def budget_commit(*, ref: str, now: datetime | None = None) -> bool:
    """Commit the open reservation of `ref` (e.g. `redemption:<id>`); False if it holds none."""
    return budgets_commit_refs(refs=[ref], now=now) > 0


@transaction.atomic
def budget_release(*, ref: str, now: datetime | None = None) -> bool:
    """Release the open reservation of `ref`; False if it holds none."""
    return budgets_release_refs(refs=[ref], now=now) > 0


@transaction.atomic
def budget_refund(*, ref: str, now: datetime | None = None) -> bool:
    """Give back what a COMMITTED `ref` spent (a refunded redemption or retracted reward): one UPDATE."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH refunded AS (
                UPDATE {LEDGER_TABLE} SET status = 'released', settled_at = %s
                WHERE id = (SELECT id FROM {LEDGER_TABLE} WHERE ref = %s AND status = 'committed'
                            ORDER BY id DESC LIMIT 1 FOR UPDATE)
                RETURNING budget_id, amount, period_start
            )
            UPDATE {BUDGET_TABLE} b SET committed = b.committed - r.amount, updated_at = %s
            FROM refunded r
            WHERE b.id = r.budget_id AND b.period_start IS NOT DISTINCT FROM r.period_start
              AND b.committed >= r.amount
            RETURNING b.id
            """,  # noqa: S608
            [now, ref, now],
        )
        return cursor.fetchone() is not None


# --------------------------------------------------------------------------- configuring

BUDGET_FIELDS = ("kind", "limit", "period", "pause_at_percent")


@transaction.atomic
def budget_set(
    *,
    campaign_id: int,
    actor: str,
    kind: str,
    limit: Decimal,
    period: str = Budget.Period.TOTAL,
    pause_at_percent: int = 90,
) -> Budget:
    """Create or change a campaign's budget (PUT). A limit below what is already used is a 409."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFoundError(f"Campaign {campaign_id} does not exist.")
    if campaign.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED, Campaign.Status.ARCHIVED):
        raise ConflictError(
            f"Campaign {campaign_id} is {campaign.status}: its budget can no longer change.",
            code="campaign_not_editable",
        )
    errors: dict[str, list[str]] = {}
    if kind not in Budget.Kind.values:
        errors["kind"] = ["Kind must be spend or count."]
    if period not in Budget.Period.values:
        errors["period"] = ["Period must be total, day, week or month."]
    if not isinstance(limit, Decimal) or not limit.is_finite() or limit <= 0:
        errors["limit"] = ["Limit must be greater than zero."]
    elif limit.as_tuple().exponent < -4 or limit >= Decimal("1e14"):
        errors["limit"] = ["Limit has at most 14 digits before and 4 after the decimal point."]
    elif kind == Budget.Kind.COUNT and limit != limit.to_integral_value():
        errors["limit"] = ["A count budget's limit is a whole number of rewards."]
    if (
        not isinstance(pause_at_percent, int)
        or isinstance(pause_at_percent, bool)
        or not 1 <= pause_at_percent <= 100
    ):
        errors["pause_at_percent"] = ["Pause at percent must be between 1 and 100."]
    if kind == Budget.Kind.SPEND and reward_unit(kind=kind, reward=campaign.reward) is None:
        errors["kind"] = [
            "A spend budget needs the campaign's reward value to be a positive amount, like 10.00."
        ]
    if errors:
        raise ValidationFailed(errors)
    budget = Budget.objects.select_for_update().filter(campaign_id=campaign_id).first()
    before = values_of(budget, BUDGET_FIELDS) if budget else dict.fromkeys(BUDGET_FIELDS)
    if budget is None:
        budget = Budget(campaign=campaign)
    elif budget.committed + budget.reserved > limit:
        raise ConflictError(
            f"The budget already uses {budget.committed + budget.reserved}: the limit cannot go below it.",
            code="budget_below_used",
        )
    budget.kind, budget.limit, budget.period, budget.pause_at_percent = kind, limit, period, pause_at_percent
    budget.save()
    audit_record(
        actor=actor,
        action="budget.updated",
        obj_or_type=campaign,
        changes=changes_between(before, values_of(budget, BUDGET_FIELDS)),
    )
    return budget
