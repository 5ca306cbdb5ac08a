"""Reads of the alarms app: the platform dashboard, and one brand's own alarms (its brand admin page).

The platform dashboard: each brand's figures, read from each brand's own schema in turn.

Never a shared table of tenant rows (ADR 0001): for every brand, switch to its schema, read its
rollup totals and health snapshot (a handful of rows), switch back. Open alarms come from `public`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from monitoring.alarms.models import Alarm, AlarmRule
from monitoring.models import HealthSnapshot
from monitoring.selectors import CampaignTotals, brand_health, brand_totals
from tenants.models import Brand


@dataclass
class BrandRow:
    brand: Brand
    day: CampaignTotals
    health: HealthSnapshot | None
    open_alarms: int


def platform_overview(*, since: datetime | None = None) -> list[BrandRow]:
    since = since or timezone.now() - timedelta(hours=24)
    open_alarms = dict(
        Alarm.objects.filter(cleared_at__isnull=True)
        .values_list("brand_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = []
    for brand in Brand.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name"):
        with schema_context(brand.schema_name):
            day = brand_totals(since=since)
            health = brand_health()
        rows.append(BrandRow(brand=brand, day=day, health=health, open_alarms=open_alarms.get(brand.pk, 0)))
    return rows


@dataclass
class RuleRow:
    rule: AlarmRule
    condition: str  # "More than 10 dead letters", in words


@dataclass
class AlarmRow:
    alarm: Alarm
    condition: str
    fired_value: str
    last_value: str
    cleared_value: str


@dataclass
class BrandAlarmsView:
    firing: list[AlarmRow]
    cleared: list[AlarmRow]
    rules: list[RuleRow]


def _amount(kind: str, value: Decimal | None) -> str:
    if value is None:
        return ""
    if kind in (AlarmRule.Kind.BACKLOG_AGE, AlarmRule.Kind.OUTBOX_LAG):
        seconds = value.to_integral_value()
        if seconds and seconds % 60 == 0:
            minutes = int(seconds // 60)
            return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
        return f"{value.normalize():f} s"
    if kind == AlarmRule.Kind.FAILURE_RATE:
        return f"{value.quantize(Decimal('0.1')):f} %"
    return f"{value.to_integral_value():f}"


def rule_condition(rule: AlarmRule) -> str:
    """What makes the rule fire, in words."""
    threshold = _amount(rule.kind, rule.threshold)
    kind = AlarmRule.Kind
    if rule.kind == kind.DEAD_LETTERS:
        return f"More than {threshold} dead letters (dispatches that gave up) waiting for replay"
    if rule.kind == kind.BACKLOG_AGE:
        return f"A dispatch has been waiting to reach its partner for more than {threshold}"
    if rule.kind == kind.OUTBOX_LAG:
        return f"Work waiting to be queued for more than {threshold}"
    if rule.kind == kind.FAILURE_RATE:
        return (
            f"More than {threshold} of partner attempts failed over {rule.window_minutes} minutes "
            f"(at least {rule.min_attempts} attempts)"
        )
    if rule.kind == kind.PARTNER_FAILURES:
        return f"A partner failed {threshold} times in a row or more"
    if rule.kind == kind.WEBHOOK_ENDPOINT_DISABLED:
        return (
            f"More than {threshold} outgoing webhook endpoints disabled after failing for 5 days "
            "(fix the receiver, enable the endpoint, replay its dead deliveries)"
        )
    return rule.get_kind_display()


def _alarm_row(alarm: Alarm) -> AlarmRow:
    kind = alarm.rule.kind
    return AlarmRow(
        alarm=alarm,
        condition=rule_condition(alarm.rule),
        fired_value=_amount(kind, alarm.fired_value),
        last_value=_amount(kind, alarm.last_value),
        cleared_value=_amount(kind, alarm.cleared_value),
    )


def brand_alarms(*, brand_id: int, cleared_days: int = 30, cleared_limit: int = 50) -> BrandAlarmsView:
    """One brand's alarms (firing, and cleared in the last `cleared_days`) and the rules that apply to it.

    Only rows of `brand_id`: a brand never sees another brand's alarms or rules (global rules, which
    apply to every brand, are shown to each)."""
    alarms = Alarm.objects.filter(brand_id=brand_id).select_related("rule")
    since = timezone.now() - timedelta(days=cleared_days)
    rules = AlarmRule.objects.filter(Q(brand__isnull=True) | Q(brand_id=brand_id)).order_by("name")
    return BrandAlarmsView(
        firing=[_alarm_row(a) for a in alarms.filter(cleared_at__isnull=True).order_by("-fired_at")],
        cleared=[
            _alarm_row(a)
            for a in alarms.filter(cleared_at__gte=since).order_by("-cleared_at")[:cleared_limit]
        ],
        rules=[RuleRow(rule=rule, condition=rule_condition(rule)) for rule in rules],
    )
