"""Reads of journeys: the API documents, the counts per step, an enrollment's history."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from core.exceptions import NotFoundError, ValidationFailed
from journeys.models import Enrollment, Journey, JourneyStep, StepRun
from journeys.steps import step_document


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def journey_list(*, status: str | None = None) -> QuerySet[Journey]:
    journeys = Journey.objects.all()
    if status:
        if status not in Journey.Status.values:
            raise ValidationFailed({"status": [f"One of {', '.join(Journey.Status.values)}."]})
        journeys = journeys.filter(status=status)
    return journeys


def journey_get(*, journey_id: int) -> Journey:
    journey = Journey.objects.filter(pk=journey_id).first()
    if journey is None:
        raise NotFoundError(f"No journey {journey_id}.")
    return journey


def journey_data(journey: Journey, *, with_counts: bool = False) -> dict[str, Any]:
    steps = JourneyStep.objects.filter(journey=journey, version=journey.version).order_by("position")
    data: dict[str, Any] = {
        "id": journey.pk,
        "name": journey.name,
        "status": journey.status,
        "version": journey.version,
        "entry": {"segment": journey.entry_segment_id}
        if journey.entry_segment_id
        else {"event": journey.entry_event},
        "re_entry": journey.re_entry,
        "re_entry_days": journey.re_entry_days,
        "exit_event": journey.exit_event,
        "campaign": journey.campaign_id,
        "steps": [step_document(step) for step in steps],
        "activated_at": _iso(journey.activated_at),
        "created_at": _iso(journey.created_at),
        "updated_at": _iso(journey.updated_at),
    }
    if with_counts:
        data["counts"] = step_counts(journey)
    return data


def step_counts(journey: Journey, *, version: int | None = None) -> list[dict[str, Any]]:
    """Per step of a version: entered (its runs), waiting (enrollments on it now), exited (enrollments
    that ended on it: an exit step, the exit event, or the end of the flow)."""
    version = version or journey.version
    steps = list(JourneyStep.objects.filter(journey=journey, version=version).order_by("position"))
    entered = dict(
        StepRun.objects.filter(step__in=steps)
        .values_list("step_id")
        .annotate(n=Count("id"))
        .values_list("step_id", "n")
    )
    by_key = {
        key: (live, done)
        for key, live, done in Enrollment.objects.filter(journey=journey, version=version)
        .values("step_key")
        .annotate(
            live=Count("id", filter=Q(state__in=["active", "waiting"])),
            done=Count("id", filter=Q(state__in=["completed", "exited"])),
        )
        .values_list("step_key", "live", "done")
    }
    return [
        {
            "key": step.key,
            "kind": step.kind,
            "entered": entered.get(step.pk, 0),
            "waiting": by_key.get(step.key, (0, 0))[0],
            "exited": by_key.get(step.key, (0, 0))[1],
        }
        for step in steps
    ]


def enrollment_list(
    *, journey: Journey, state: str | None = None, customer_id: str | None = None
) -> QuerySet[Enrollment]:
    enrollments = Enrollment.objects.filter(journey=journey)
    if state:
        if state not in Enrollment.State.values:
            raise ValidationFailed({"state": [f"One of {', '.join(Enrollment.State.values)}."]})
        enrollments = enrollments.filter(state=state)
    if customer_id:
        enrollments = enrollments.filter(customer_id=customer_id)
    return enrollments.order_by("-entered_at", "-id")


def enrollment_data(enrollment: Enrollment, *, with_history: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": enrollment.pk,
        "journey_id": enrollment.journey_id,
        "version": enrollment.version,
        "customer_id": enrollment.customer_id,
        "state": enrollment.state,
        "step": enrollment.step_key or None,
        "next_run_at": _iso(enrollment.next_run_at),
        "variant": enrollment.variant or None,
        "exit_reason": enrollment.exit_reason or None,
        "entered_at": _iso(enrollment.entered_at),
        "finished_at": _iso(enrollment.finished_at),
    }
    if with_history:
        data["history"] = enrollment_history(enrollment)
    return data


def enrollment_history(enrollment: Enrollment) -> list[dict[str, Any]]:
    return [
        {
            "step": run.step.key,
            "kind": run.step.kind,
            "outcome": run.outcome,
            "detail": run.detail or None,
            "next": run.next_key or None,
            "message_id": str(run.message_id) if run.message_id else None,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
        }
        for run in StepRun.objects.filter(enrollment=enrollment)
        .select_related("step")
        .order_by("started_at", "id")
    ]
