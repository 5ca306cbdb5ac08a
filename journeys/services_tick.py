"""The journeys job of the maintenance tick: enrol dynamic entry segments' members that are due for a
check, then advance every due enrollment (journeys/executor.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone

from journeys.entry import enroll_segment_members
from journeys.executor import enrollments_advance_due
from journeys.models import Enrollment, Journey

# One tick may not run for ever: what is left is due at the next tick.
TICK_TIME_BUDGET_SECONDS = 30.0


def _segment_checks_due(now: datetime):
    every = timedelta(seconds=settings.JOURNEY_SEGMENT_CHECK_SECONDS)
    return Journey.objects.filter(status=Journey.Status.ACTIVE, entry_segment__isnull=False).filter(
        Q(segment_checked_at__isnull=True) | Q(segment_checked_at__lte=now - every)
    )


def journeys_run_due(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    entered = 0
    for journey in _segment_checks_due(now).select_related("entry_segment"):
        # A static segment's members enter when they are imported (the segment listener) and once at
        # activation; a dynamic one's membership changes with the data, so it is re-read on a cadence.
        if journey.segment_checked_at is None or journey.entry_segment.kind == "dynamic":
            entered += enroll_segment_members(journey=journey, now=now)
    advanced = enrollments_advance_due(now=now, time_budget_seconds=TICK_TIME_BUDGET_SECONDS)
    return {"entered": entered, "advanced": advanced}


def next_journey_work_at() -> datetime | None:
    """When the brand's journeys next have work: the earliest due enrollment of an active journey, or
    the next dynamic segment check (for the maintenance tick's work-due verdict)."""
    candidates = []
    due = Enrollment.objects.filter(
        state__in=["active", "waiting"], journey__status=Journey.Status.ACTIVE
    ).aggregate(at=Min("next_run_at"))["at"]
    if due is not None:
        candidates.append(due)
    checks = Journey.objects.filter(status=Journey.Status.ACTIVE, entry_segment__isnull=False)
    if checks.filter(segment_checked_at__isnull=True).exists():
        return timezone.now()
    last = checks.filter(entry_segment__kind="dynamic").aggregate(at=Min("segment_checked_at"))["at"]
    if last is not None:
        candidates.append(last + timedelta(seconds=settings.JOURNEY_SEGMENT_CHECK_SECONDS))
    return min(candidates, default=None)
