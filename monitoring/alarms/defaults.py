"""The alarm rules every brand gets when it is created (ADR 0012). Pure data, no Django.

Thresholds are what an operator of a brand doing a few purchases a second would want to hear about,
not a page per blip: a handful of dead letters is replayed in the daily routine, ten means a partner
problem; a dispatch waiting a quarter of an hour means the queue is stuck; half the attempts failing
over 15 minutes (with at least 20 attempts, so a quiet night does not page) means the partner is down.
Operators tune them per brand in the platform admin; re-running brand creation never resets a tuned rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class DefaultRule:
    kind: str  # an AlarmRule.Kind value
    title: str  # the rule's name is "<title> (<schema>)": AlarmRule.name is unique across brands
    threshold: Decimal
    window_minutes: int = 15
    min_attempts: int = 10


DEFAULT_RULES: tuple[DefaultRule, ...] = (
    DefaultRule(kind="dead_letters", title="Dead letters", threshold=Decimal(10)),
    DefaultRule(kind="backlog_age", title="Dispatch backlog age", threshold=Decimal(900)),
    DefaultRule(
        kind="failure_rate",
        title="Partner failure rate",
        threshold=Decimal(50),
        window_minutes=15,
        min_attempts=20,
    ),
    # SPEC §15: an outgoing webhook endpoint failing for 5 days is disabled, with an alarm.
    DefaultRule(kind="webhook_endpoint_disabled", title="Webhook endpoints disabled", threshold=Decimal(0)),
    # SPEC §13: a campaign paused by its budget threshold (90 % by default) is something to hear about.
    DefaultRule(kind="budget_threshold", title="Campaign budget threshold", threshold=Decimal(90)),
)


def default_rule_name(rule: DefaultRule, schema_name: str) -> str:
    return f"{rule.title} ({schema_name})"
