"""The deliverability gate (SPEC §14): one pure function, no database, no clock, no settings.

`evaluate(request, context)` answers whether one message may go now. The first reason that
applies, in this order, is the `skip_reason`:

1. `suppressed`: the address is on the suppression list (hard bounce, complaint, manual).
   Every category: a transactional message never goes to a suppressed address.
2. `unsubscribed`: the customer opted out of the channel (topic "") or of the message's topic.
   Marketing only.
3. `no_address`: the customer has no address on this channel.
4. `quiet_hours`: it is inside the brand's quiet window in the customer's local time (their
   timezone, else the brand's); the message is `deferred` until the window ends. Windows may wrap
   midnight; the end is computed on the local wall clock of the day it falls on, so it is right
   across DST changes (zoneinfo). Marketing only (ADR 0021: an OTP or a receipt cannot wait 8 hours).
5. `frequency_capped`: a rule ("at most N marketing messages per H hours", one channel or any)
   is full. With several full rules the most restrictive wins: the message waits for the latest
   of their reopenings. Skipped, or deferred until then if the message says so. Marketing only.

The caller (notifications/services.py `message_send`) loads the context under the customer's
advisory lock and writes the message row in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

QUEUED = "queued"
SKIPPED = "skipped"
DEFERRED = "deferred"
MARKETING = "marketing"


def normalise_address(channel: str, address: str) -> str:
    """The form suppressions are stored and compared in: emails case-folded, numbers without spaces."""
    address = (address or "").strip()
    if channel == "email":
        return address.lower()
    if channel == "sms":
        return address.replace(" ", "").replace("-", "")
    return address


@dataclass(frozen=True)
class Rule:
    channel: str  # "" = any channel
    max_messages: int
    window: timedelta


@dataclass(frozen=True)
class GateRequest:
    channel: str
    category: str
    topic: str
    address: str
    now: datetime  # aware
    defer_when_capped: bool = False


@dataclass(frozen=True)
class GateContext:
    suppressed: bool
    # (channel, topic) → opted in; topic "" is the whole channel. Absent: not opted out.
    preferences: Mapping[tuple[str, str], bool]
    timezone: ZoneInfo
    quiet_hours: tuple[time, time] | None
    rules: Sequence[Rule]
    # (created_at, channel) of the customer's counted marketing messages, within the longest window.
    recent: Sequence[tuple[datetime, str]]


@dataclass(frozen=True)
class GateDecision:
    status: str  # queued | skipped | deferred
    reason: str = ""
    until: datetime | None = None


SEND = GateDecision(QUEUED)


def quiet_window_end(now: datetime, tz: ZoneInfo, start: time, end: time) -> datetime | None:
    """The end of the quiet window `now` is in (aware, in `tz`), or None when outside it."""
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
    else:  # wraps midnight: 22:00–08:00
        inside = t >= start or t < end
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    # Wall clock of that day: 08:00 is 08:00 whether the night had 23 or 25 hours. An end inside a
    # spring-forward gap resolves to just after the gap (fold=0 keeps the offset before it).
    return datetime.combine(day, end, tzinfo=tz)


def cap_reopens_at(
    request: GateRequest, rules: Sequence[Rule], recent: Sequence[tuple[datetime, str]]
) -> datetime | None:
    """When every full rule has room again (the latest reopening), or None when no rule is full."""
    latest: datetime | None = None
    for rule in rules:
        if rule.channel and rule.channel != request.channel:
            continue
        since = request.now - rule.window
        times = sorted(
            at for at, channel in recent if at > since and (not rule.channel or channel == rule.channel)
        )
        if len(times) < rule.max_messages:
            continue
        # Room again once enough of the oldest counted messages have left the window.
        reopens = times[len(times) - rule.max_messages] + rule.window
        if latest is None or reopens > latest:
            latest = reopens
    return latest


def evaluate(request: GateRequest, context: GateContext) -> GateDecision:
    if context.suppressed:
        return GateDecision(SKIPPED, "suppressed")
    marketing = request.category == MARKETING
    if marketing and (
        context.preferences.get((request.channel, "")) is False
        or (request.topic and context.preferences.get((request.channel, request.topic)) is False)
    ):
        return GateDecision(SKIPPED, "unsubscribed")
    if not request.address:
        return GateDecision(SKIPPED, "no_address")
    if not marketing:
        return SEND
    if context.quiet_hours is not None:
        until = quiet_window_end(request.now, context.timezone, *context.quiet_hours)
        if until is not None:
            return GateDecision(DEFERRED, "quiet_hours", until)
    if context.rules:
        reopens = cap_reopens_at(request, context.rules, context.recent)
        if reopens is not None:
            if request.defer_when_capped:
                return GateDecision(DEFERRED, "frequency_capped", reopens)
            return GateDecision(SKIPPED, "frequency_capped")
    return SEND
