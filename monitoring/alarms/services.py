"""Alarm evaluation (services): compare a brand's health with the rules, open/clear Alarm rows, notify.

Called by the per-brand tick (monitoring.tasks) inside the brand's schema; the rule and alarm tables
are in `public`, reached through the search path. One open alarm per (rule, brand, partner) is a
database constraint, so a rule that stays firing never opens — nor notifies — twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from analytics.selectors import conversion_trends
from campaigns.selectors import budgets_used_percent
from monitoring.alarms import notifiers
from monitoring.alarms.defaults import DEFAULT_RULES, default_rule_name
from monitoring.alarms.models import Alarm, AlarmRule
from monitoring.health import dispatch_failure_rate
from monitoring.models import HealthSnapshot
from tenants.models import Brand
from webhooks.selectors import endpoints_disabled_for_failing_count

logger = logging.getLogger(__name__)

# Notifications older than this are not sent any more (a channel configured later does not replay history).
NOTIFY_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class Observation:
    partner_slug: str
    value: Decimal
    firing: bool


def _observe(rule: AlarmRule, snapshot: HealthSnapshot) -> list[Observation]:
    threshold = rule.threshold
    kind = AlarmRule.Kind
    if rule.kind == kind.DEAD_LETTERS:
        value = Decimal(snapshot.dead_letters)
        return [Observation("", value, value > threshold)]
    if rule.kind == kind.BACKLOG_AGE:
        value = Decimal(str(round(snapshot.oldest_backlog_seconds, 1)))
        return [Observation("", value, value > threshold)]
    if rule.kind == kind.OUTBOX_LAG:
        value = Decimal(str(round(snapshot.outbox_lag_seconds, 1)))
        return [Observation("", value, value > threshold)]
    if rule.kind == kind.FAILURE_RATE:
        attempts, failed = dispatch_failure_rate(window_minutes=rule.window_minutes)
        value = (Decimal(100 * failed) / attempts).quantize(Decimal("0.01")) if attempts else Decimal(0)
        return [Observation("", value, attempts >= rule.min_attempts and value > threshold)]
    if rule.kind == kind.WEBHOOK_ENDPOINT_DISABLED:
        value = Decimal(endpoints_disabled_for_failing_count())
        return [Observation("", value, value > threshold)]
    if rule.kind == kind.PARTNER_FAILURES:
        failures = snapshot.partner_consecutive_failures or {}
        return [
            Observation(slug, Decimal(n), Decimal(n) >= threshold) for slug, n in sorted(failures.items())
        ]
    if rule.kind == kind.BUDGET_THRESHOLD:
        # One observation per budgeted campaign still live (or completed within a day); the subject key
        # (kept in `partner_slug`, the alarm's per-subject column) is "campaign:<id>".
        return [
            Observation(f"campaign:{campaign_id}", used, used >= threshold)
            for campaign_id, used in budgets_used_percent(since=timezone.now() - timedelta(days=1))
        ]
    if rule.kind == kind.CONVERSION_DROP:
        return _conversion_drops(rule)
    raise ValueError(f"unknown alarm rule kind {rule.kind!r}")


def conversion_subject(campaign_id: int) -> str:
    """The alarm's subject (its `partner_slug` column) for a campaign: one open alarm per campaign."""
    return f"campaign-{campaign_id}"


def _conversion_drops(rule: AlarmRule) -> list[Observation]:
    """Per running campaign past its first week: recent conversion rate ÷ first week's (the value), firing
    below `threshold` (e.g. 0.5 = half of the first week's). Read from the analytics daily figures."""
    days = max(1, rule.window_minutes // (24 * 60))
    observations = []
    for trend in conversion_trends(
        today=timezone.now().date(), recent_days=days, min_clicks=rule.min_attempts
    ):
        if not trend.first_week_rate:
            continue  # nothing converted in the first week: no baseline to fall from
        value = (trend.recent_rate / trend.first_week_rate).quantize(Decimal("0.0001"))
        observations.append(Observation(conversion_subject(trend.campaign_id), value, value < rule.threshold))
    return observations


@transaction.atomic
def alarm_rules_ensure_defaults(*, brand: Brand) -> list[AlarmRule]:
    """Give the brand its default alarm rules (defaults.py). Idempotent: an existing rule of the same
    name is left as the operator tuned it. Returns the brand's default rules."""
    rules = []
    for default in DEFAULT_RULES:
        rule, created = AlarmRule.objects.get_or_create(
            name=default_rule_name(default, brand.schema_name),
            defaults={
                "kind": default.kind,
                "threshold": default.threshold,
                "window_minutes": default.window_minutes,
                "min_attempts": default.min_attempts,
                "brand": brand,
            },
        )
        if created:
            logger.info("default alarm rule created", extra={"rule": rule.name, "tenant": brand.schema_name})
        rules.append(rule)
    return rules


def rules_for_brand(*, brand: Brand) -> list[AlarmRule]:
    return list(
        AlarmRule.objects.filter(Q(brand__isnull=True) | Q(brand=brand), is_enabled=True).order_by("pk")
    )


@transaction.atomic
def alarms_evaluate(*, brand: Brand, snapshot: HealthSnapshot) -> list[Alarm]:
    """Open alarms for rules now firing, clear those no longer firing. Returns the alarms that changed."""
    now = timezone.now()
    changed: list[Alarm] = []
    rules = rules_for_brand(brand=brand)
    open_alarms = {
        (alarm.rule_id, alarm.partner_slug): alarm
        for alarm in Alarm.objects.select_for_update().filter(brand=brand, cleared_at__isnull=True)
    }
    for rule in rules:
        observed = {obs.partner_slug: obs for obs in _observe(rule, snapshot)}
        if rule.kind in (
            AlarmRule.Kind.PARTNER_FAILURES,
            AlarmRule.Kind.BUDGET_THRESHOLD,
            AlarmRule.Kind.CONVERSION_DROP,
        ):
            # A partner that recovered (or has no failure any more) is absent from the snapshot: value 0.
            for rule_id, slug in open_alarms:
                if rule_id == rule.pk and slug not in observed:
                    observed[slug] = Observation(slug, Decimal(0), False)
        for obs in observed.values():
            alarm = open_alarms.pop((rule.pk, obs.partner_slug), None)
            if obs.firing and alarm is None:
                alarm = Alarm.objects.create(
                    rule=rule,
                    brand=brand,
                    partner_slug=obs.partner_slug,
                    fired_at=now,
                    fired_value=obs.value,
                    last_value=obs.value,
                )
                logger.warning(
                    "alarm fired: %s", rule.name, extra={"alarm_id": alarm.pk, "value": str(obs.value)}
                )
                changed.append(alarm)
            elif alarm is not None and obs.firing:
                if alarm.last_value != obs.value:
                    alarm.last_value = obs.value
                    alarm.save(update_fields=["last_value"])
            elif alarm is not None:
                _clear(alarm, value=obs.value, now=now)
                changed.append(alarm)
    # Open alarms of rules that were disabled, deleted or re-scoped away from this brand.
    for alarm in open_alarms.values():
        _clear(alarm, value=alarm.last_value, now=now)
        changed.append(alarm)
    return changed


def _clear(alarm: Alarm, *, value: Decimal, now) -> None:
    alarm.cleared_at = now
    alarm.cleared_value = value
    alarm.last_value = value
    alarm.save(update_fields=["cleared_at", "cleared_value", "last_value"])
    logger.warning("alarm cleared: %s", alarm.rule.name, extra={"alarm_id": alarm.pk, "value": str(value)})


def _pending_deliveries(alarm: Alarm) -> list[tuple[str, str, str]]:
    """(event, channel, column) still to deliver for this alarm, in order: fired before cleared."""
    cutoff = timezone.now() - NOTIFY_MAX_AGE
    events = []
    if alarm.fired_at >= cutoff:
        events.append((notifiers.FIRED, "fire"))
    if alarm.cleared_at is not None and alarm.cleared_at >= cutoff:
        events.append((notifiers.CLEARED, "clear"))
    channels = []
    if alarm.rule.notify_email and notifiers.email_enabled():
        channels.append("email")
    if alarm.rule.notify_webhook and notifiers.webhook_enabled():
        channels.append("webhook")
    return [
        (event, channel, f"{prefix}_notified_{channel}_at")
        for event, prefix in events
        for channel in channels
        if getattr(alarm, f"{prefix}_notified_{channel}_at") is None
    ]


_SENDERS = {"email": notifiers.send_alarm_email, "webhook": notifiers.send_alarm_webhook}


def alarm_notify_pending(*, brand: Brand) -> int:
    """Deliver every notification still owed for the brand's recent alarms. Returns deliveries made.

    Each alarm is locked while its deliveries go out (SKIP LOCKED: a concurrent tick leaves it alone),
    and each delivery is recorded at once, so a failing channel is retried without repeating the others.
    """
    cutoff = timezone.now() - NOTIFY_MAX_AGE
    candidates = (
        Alarm.objects.filter(brand=brand)
        .filter(Q(fired_at__gte=cutoff) | Q(cleared_at__gte=cutoff))
        .filter(
            Q(fire_notified_email_at__isnull=True)
            | Q(fire_notified_webhook_at__isnull=True)
            | Q(cleared_at__isnull=False, clear_notified_email_at__isnull=True)
            | Q(cleared_at__isnull=False, clear_notified_webhook_at__isnull=True)
        )
    )
    delivered = 0
    for alarm_id in candidates.values_list("pk", flat=True).order_by("pk"):
        with transaction.atomic():
            alarm = (
                Alarm.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("rule", "brand")
                .filter(pk=alarm_id)
                .first()
            )
            if alarm is None:
                continue
            errors = []
            for event, channel, column in _pending_deliveries(alarm):
                try:
                    _SENDERS[channel](alarm, event)
                except Exception as exc:
                    errors.append(f"{event} {channel}: {exc}"[:500])
                    logger.warning(
                        "alarm notification failed", extra={"alarm_id": alarm.pk, "channel": channel}
                    )
                    continue
                setattr(alarm, column, timezone.now())
                delivered += 1
            alarm.last_notify_error = "\n".join(errors)
            alarm.save()
    return delivered
